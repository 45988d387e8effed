package cluster

import "errors"

var ErrNotLeader = errors.New("not the leader")
var ErrNoLeader = errors.New("no leader")
var ErrInvalid = errors.New("invalid argument")
