// Package events is a master's event pipeline. It owns:
//
//   - emit: a master's own events enter a bounded queue that never blocks
//     (Pipeline.Emit); drops are counted and reported as an events_dropped
//     event;
//   - batching: the EventBatcher turns many events into one Raft entry
//     (group commit), keeps up to MaxInFlight entries in flight when the
//     Applier can start an entry without waiting for it (AsyncApplier:
//     entries keep their order), and resends its own events through the leader until
//     they are acknowledged;
//   - retention: on the leader, prune commands keep the event graph within
//     its age and count limits (Pipeline.RunLeader runs retention, alerts
//     and webhooks for one term of leadership);
//   - the event stream: StreamEvents resumes exactly after a seq, and fails
//     with OUT_OF_RANGE when the events after it were pruned;
//   - the natural-language ask (AskQuery) over the event graph and registry:
//     lists, counts, timelines, state, aggregates, why chains, anchored
//     times, unknown entities (ask.go);
//   - alert rules (alert_rules.go, alert_config.go, alerts.go): evaluated
//     on the leader as events commit (aging and the quorum check once a
//     second, alertTick); episode state is the committed
//     alert_fired/alert_resolved events, so no episode fires twice across
//     a failover; ListAlerts (alerts_rpc.go);
//   - webhooks (webhooks.go): the leader POSTs events in seq order, signed,
//     and commits each webhook's acknowledged seq (fsm WebhookAckType) so a
//     new leader resumes there; WebhookStatus;
//   - validation of incoming event batches and filters;
//   - the gRPC handlers of the event RPCs: EmitEvents, QueryEvents,
//     StreamEvents, AskQuery, ListAlerts and WebhookStatus.
//
// The package knows nothing of Raft or of cluster.Master: it declares the
// small interfaces it needs (Applier, Leadership, Forwarder, Store) and the
// master hands it implementations in New. Unit tests use fakes.
package events
