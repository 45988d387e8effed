package eventstore

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// maxWebhookName bounds a webhook name stored as a key.
const maxWebhookName = 256

// SetWebhookAck records that webhook name acknowledged every event up to
// seq. The position only moves forward: an older seq (a deposed leader's
// late command) is ignored. Deterministic: it depends only on the store.
func (s *Store) SetWebhookAck(name string, seq uint64) error {
	if name == "" || len(name) > maxWebhookName {
		return fmt.Errorf("%w: webhook name of %d bytes", ErrInvalid, len(name))
	}
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketWebhookAcks)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(name)); len(v) == 8 && decodeUint(v) >= seq {
			return nil
		}
		return b.Put([]byte(name), encodeUint(seq))
	})
}

// WebhookAcks returns every webhook's acknowledged seq.
func (s *Store) WebhookAcks() (map[string]uint64, error) {
	out := map[string]uint64{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWebhookAcks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				out[string(k)] = decodeUint(v)
			}
			return nil
		})
	})
	return out, err
}
