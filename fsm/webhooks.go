package fsm

import (
	"errors"
	"fmt"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
)

// applyWebhookAck moves a webhook's acknowledged seq forward. The position
// lives in the event store (it travels in snapshots with the events); an
// older seq than the stored one changes nothing.
func (f *FSM) applyWebhookAck(buf []byte, index uint64) interface{} {
	cmd := new(rpc.WebhookAckCommand)
	decode(WebhookAckType, buf, index, cmd)
	if err := f.Events().SetWebhookAck(cmd.Name, cmd.Seq); err != nil {
		if errors.Is(err, eventstore.ErrInvalid) {
			return fmt.Errorf("webhook ack: %w: %v", ErrInvalid, err)
		}
		f.failUnlessRefused(index, "webhook ack", err)
		return fmt.Errorf("webhook ack: %w", err)
	}
	return nil
}

// WebhookAcks returns the replicated acknowledged seq of every webhook.
func (f *FSM) WebhookAcks() (map[string]uint64, error) {
	return f.Events().WebhookAcks()
}
