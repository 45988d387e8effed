package events

import (
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a master's event pipeline: the batcher that turns events
// into Raft entries, and retention of the replicated event graph.
type Config struct {
	// QueueSize bounds the queue of this master's own events waiting for a
	// commit; emitting into a full queue drops the event (counted, and
	// reported later as an events_dropped event).
	QueueSize int
	// BatchSize is the most events put in one Raft entry.
	BatchSize int
	// BatchWait is how long a batch that is not full waits for more events.
	BatchWait time.Duration
	// Retention prunes events older than this; 0 keeps them regardless of age.
	Retention time.Duration
	// MaxEvents keeps at most this many events (the oldest go first); 0 = no limit.
	MaxEvents uint64
	// PruneEvery is how often the leader issues a prune command.
	PruneEvery time.Duration
	// DropReportEvery is how often a master that dropped events emits an
	// events_dropped event saying how many.
	DropReportEvery time.Duration
	// FlushTimeout bounds how long shutdown waits for queued events to commit.
	FlushTimeout time.Duration
	// AlertRules are evaluated by the leader on events as they commit
	// (DefaultAlertRules merged with --alert-rules); nil = none.
	AlertRules []AlertRule
	// Webhooks receive alerts (and optionally every event) from the leader.
	Webhooks []WebhookConfig
	// WebhookMaxLag is how long a webhook may fail before webhook_failing.
	WebhookMaxLag time.Duration
	// WebhookTimeout bounds one POST.
	WebhookTimeout time.Duration
	// WebhookBackoff is the first retry delay; it doubles up to WebhookMaxBackoff.
	WebhookBackoff, WebhookMaxBackoff time.Duration

	// The fields below are set by the master that builds the pipeline
	// (cluster.New fills them from its own configuration).

	// MasterID is the source of this master's own events and the entity of
	// its events_dropped reports.
	MasterID string
	// CommitTimeout bounds one commit attempt (the master's Raft apply timeout).
	CommitTimeout time.Duration
	// Logger receives the pipeline's logs; nil discards them.
	Logger hclog.Logger
	// Metrics is where the pipeline's collectors are registered; nil disables them.
	Metrics prometheus.Registerer
}

// DefaultConfig: a 65536-event queue, batches of up to 512 events or
// 2 ms, 7 days / 5,000,000 events of retention checked every minute.
func DefaultConfig() Config {
	return Config{
		QueueSize:         65536,
		BatchSize:         512,
		BatchWait:         2 * time.Millisecond,
		Retention:         168 * time.Hour,
		MaxEvents:         5_000_000,
		PruneEvery:        time.Minute,
		DropReportEvery:   10 * time.Second,
		FlushTimeout:      2 * time.Second,
		AlertRules:        DefaultAlertRules(),
		WebhookMaxLag:     5 * time.Minute,
		WebhookTimeout:    10 * time.Second,
		WebhookBackoff:    100 * time.Millisecond,
		WebhookMaxBackoff: 30 * time.Second,
	}
}

// withDefaults fills zero durations that must be positive and a nil logger.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	if c.PruneEvery <= 0 {
		c.PruneEvery = def.PruneEvery
	}
	if c.DropReportEvery <= 0 {
		c.DropReportEvery = def.DropReportEvery
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = def.FlushTimeout
	}
	if c.WebhookMaxLag <= 0 {
		c.WebhookMaxLag = def.WebhookMaxLag
	}
	if c.WebhookTimeout <= 0 {
		c.WebhookTimeout = def.WebhookTimeout
	}
	if c.WebhookBackoff <= 0 {
		c.WebhookBackoff = def.WebhookBackoff
	}
	if c.WebhookMaxBackoff < c.WebhookBackoff {
		c.WebhookMaxBackoff = max(def.WebhookMaxBackoff, c.WebhookBackoff)
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}
