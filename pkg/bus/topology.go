package bus

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/config"
)

// Topology is every stream, durable consumer and KV bucket of onekey,
// declared in this one place from the names in api/events. Only the admin
// declares it (tools/busadmin declare; devstack and the tests' harnesses);
// services bind to what exists and wait (bind.go). Declaring is idempotent:
// running it again, or from two places at once, changes nothing.
type Topology struct {
	// Replicas for streams and buckets: 1 embedded, 3 on a production cluster.
	Replicas int
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id.
	DuplicateWindow time.Duration
	// AckWait is how long a delivered message may stay unacked before the
	// server delivers it again (a consumer that died holding it).
	AckWait time.Duration
	// LeaseTTL is the TTL of bucket "leases": how long a lease whose
	// holder died without releasing it blocks a successor (see Lease).
	LeaseTTL time.Duration
	// LedgerPartitions is LEDGER_PARTITIONS: how many partitions the
	// ledger's streams are mapped to (0 or 1: none, today's layout). See
	// api/events/partition.go and ledgerpartitions.go.
	LedgerPartitions int
}

// NoticesRetention is how long the NOTICES stream keeps a notice.requested.
// A notice to every user is mailed at the notifier's pace
// (NOTIFIER_NOTICE_INTERVAL, one per second by default, under Resend's
// default limit of 2 requests/s): 14 days cover 1.2 million accounts.
const NoticesRetention = 14 * 24 * time.Hour

// DefaultTopology suits the embedded single-node server.
func DefaultTopology() Topology {
	return Topology{Replicas: 1, DuplicateWindow: 10 * time.Minute, AckWait: 30 * time.Second, LeaseTTL: 10 * time.Second}
}

func (t Topology) streams() []jetstream.StreamConfig {
	retention := map[string]time.Duration{
		// Usage and billing stay long enough for a ledger outage of weeks;
		// the ledger's own idempotency, not the stream, makes replay safe.
		events.StreamUsage:    30 * 24 * time.Hour,
		events.StreamBilling:  365 * 24 * time.Hour,
		events.StreamAccounts: 365 * 24 * time.Hour,
		events.StreamNotify:   7 * 24 * time.Hour,
		// Sign-in links: kept no longer than a link lives (auth's
		// MagicLinkTTL, 15 minutes), so none sits readable on the bus.
		events.StreamMail:       15 * time.Minute,
		events.StreamNotices:    NoticesRetention,
		events.StreamDeadLetter: 90 * 24 * time.Hour,
	}
	var out []jetstream.StreamConfig
	for _, name := range events.Streams() {
		out = append(out, jetstream.StreamConfig{
			Name:       name,
			Subjects:   events.StreamSubjects(name),
			Retention:  jetstream.LimitsPolicy,
			Storage:    jetstream.FileStorage,
			Replicas:   t.Replicas,
			MaxAge:     retention[name],
			Duplicates: t.DuplicateWindow,
			Discard:    jetstream.DiscardOld,
		})
		if slices.Contains(events.LedgerStreams(), name) {
			if src, dest := events.LedgerTransform(t.LedgerPartitions); src != "" {
				out[len(out)-1].SubjectTransform = &jetstream.SubjectTransformConfig{Source: src, Destination: dest}
			}
		}
	}
	return out
}

func (t Topology) consumers() []jetstream.ConsumerConfig {
	var out []jetstream.ConsumerConfig
	var names []string
	for _, name := range events.Consumers() {
		if _, _, _, ok := events.ParseLedgerConsumer(name); !ok {
			names = append(names, name)
		}
	}
	for p := range max(t.LedgerPartitions, 1) {
		names = append(names, events.LedgerConsumers(t.LedgerPartitions, p)...)
	}
	for _, name := range names {
		cfg := jetstream.ConsumerConfig{
			Durable:       name,
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckWait:       t.AckWait,
			// Consumers dead-letter a message themselves after their own
			// number of attempts; the server never silently drops one.
			MaxDeliver:    -1,
			MaxAckPending: 10_000,
		}
		if name == events.ConsumerPaymentsTx {
			cfg.FilterSubject = events.FamilyTxRejected + ".>"
		}
		if name == events.ConsumerPaymentsAccounts {
			cfg.FilterSubject = events.FamilyAccountDeleted + ".>"
		}
		if _, n, p, ok := events.ParseLedgerConsumer(name); ok {
			cfg.FilterSubjects = events.LedgerFilters(events.ConsumerStream(name), n, p)
		}
		if name == events.ConsumerNotifierNotices {
			// The notifier paces notices; one delivered at a time, so none
			// waits in a client buffer past its ack wait.
			cfg.MaxAckPending = 1
		}
		out = append(out, cfg)
	}
	return out
}

func (t Topology) buckets() []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{
		{Bucket: events.BucketAPIKeys, History: 1, Storage: jetstream.FileStorage, Replicas: t.Replicas},
		{Bucket: events.BucketBalances, History: 1, Storage: jetstream.FileStorage, Replicas: t.Replicas},
		{Bucket: events.BucketLeases, History: 1, TTL: cmp.Or(t.LeaseTTL, 10*time.Second), Storage: jetstream.FileStorage, Replicas: t.Replicas},
		{Bucket: events.BucketResponses, History: 1, TTL: events.ResponsesRetention, Storage: jetstream.FileStorage, Replicas: t.Replicas},
		{Bucket: events.BucketAssistant, History: 1, TTL: 49 * time.Hour, Storage: jetstream.FileStorage, Replicas: t.Replicas},
	}
}

// Declare creates or updates every stream, then every consumer, then
// every bucket, in that order: a service bound to its consumers or
// buckets may take it that the streams it publishes into exist (only
// chainwatcher, bound to none, waits for its streams themselves). The
// ledger consumers of another partition count (LedgerPartitions changed)
// are kept, to be drained (ledgerpartitions.go). Each JetStream API call
// is bounded by declareCallTimeout: an error means "try again" (every call
// is create-or-update, so a retry finds done what went through).
func (b *Bus) Declare(ctx context.Context, t Topology) error {
	if err := b.filterLegacyLedgerConsumers(ctx); err != nil {
		return err
	}
	for _, sc := range t.streams() {
		if err := declareCall(ctx, func(ctx context.Context) error {
			_, err := b.js.CreateOrUpdateStream(ctx, sc)
			return err
		}); err != nil {
			return fmt.Errorf("declare stream %s: %w", sc.Name, err)
		}
	}
	for _, cc := range t.consumers() {
		stream := events.ConsumerStream(cc.Durable)
		if err := declareCall(ctx, func(ctx context.Context) error {
			_, err := b.js.CreateOrUpdateConsumer(ctx, stream, cc)
			return err
		}); err != nil {
			return fmt.Errorf("declare consumer %s on %s: %w", cc.Durable, stream, err)
		}
	}
	for _, kc := range t.buckets() {
		if err := declareCall(ctx, func(ctx context.Context) error {
			_, err := b.js.CreateOrUpdateKeyValue(ctx, kc)
			return err
		}); err != nil {
			return fmt.Errorf("declare bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}

// declareCallTimeout bounds one JetStream API call of Declare. A call sent
// to a cluster that has not elected its meta leader yet (a fresh cluster,
// or one that lost its leader a moment ago) gets no answer at all: unbounded,
// it would wait out the caller's whole deadline (busadmin's attempt: 30 s)
// before the caller could try again.
const declareCallTimeout = 5 * time.Second

// declareCall runs f under declareCallTimeout (and ctx).
func declareCall(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, declareCallTimeout)
	defer cancel()
	return f(cctx)
}

// TopologyFrom reads NATS_STREAM_REPLICAS (default 1; 3 on a production
// cluster) and LEDGER_PARTITIONS (default 1) into a topology; problems are
// recorded on r.
func TopologyFrom(r *config.Reader) Topology {
	t := DefaultTopology()
	t.Replicas = r.Int("NATS_STREAM_REPLICAS", 1)
	if t.Replicas != 1 && t.Replicas != 3 && t.Replicas != 5 {
		r.Fail("NATS_STREAM_REPLICAS: %d: want 1, 3 or 5", t.Replicas)
	}
	t.LedgerPartitions = r.Int("LEDGER_PARTITIONS", 1)
	if t.LedgerPartitions < 1 || t.LedgerPartitions > events.MaxLedgerPartitions {
		r.Fail("LEDGER_PARTITIONS: %d: want 1 to %d", t.LedgerPartitions, events.MaxLedgerPartitions)
	}
	return t
}
