package fsm

import "github.com/gridctl/grid/eventstore"

func eventstoreFilterAll() eventstore.Filter { return eventstore.Filter{Limit: 1000, Ascending: true} }
