package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
)

// Why a stream subject transform, and not an account mapping in the
// servers' configuration: the transform is part of the stream's
// configuration, so the bus admin changes it with one Declare, the
// cluster's meta layer replicates it to every node at once, and the
// stream's leader applies it to each message it stores: there is no
// moment when two nodes map one account to different partitions, and no
// nats-server configuration to keep in step with LEDGER_PARTITIONS.
// Publishers (gateway, payments, auth, operators) are unchanged and need
// no permission for the partitioned subjects. Core requests to the ledger
// (credit leases) are not stored, so no stream maps them: every ledger
// writer receives them and answers only its partition's accounts, by the
// same hash (events.PartitionOf); generation lookups read the database and
// any ledger answers them.

// filterLegacyLedgerConsumers gives the ledger's consumers of the first
// layout (ledger-usage, ... without a filter, from before partitions) their
// filters of the published subjects ("usage.recorded.*"), so that once the
// streams are partitioned they keep delivering only what was stored before
// and never a partitioned subject. A consumer's filter can be updated in
// place; its position is kept.
func (b *Bus) filterLegacyLedgerConsumers(ctx context.Context) error {
	for _, stream := range events.LedgerStreams() {
		for _, name := range []string{events.ConsumerLedgerUsage, events.ConsumerLedgerBilling, events.ConsumerLedgerAccounts} {
			if events.ConsumerStream(name) != stream {
				continue
			}
			var c jetstream.Consumer
			err := declareCall(ctx, func(ctx context.Context) (err error) {
				c, err = b.js.Consumer(ctx, stream, name)
				return err
			})
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("declare: read consumer %s: %w", name, err)
			}
			cfg := c.CachedInfo().Config
			if cfg.FilterSubject != "" || len(cfg.FilterSubjects) > 0 {
				continue
			}
			cfg.FilterSubjects = events.LedgerFilters(stream, 1, 0)
			if err := declareCall(ctx, func(ctx context.Context) error {
				_, err := b.js.UpdateConsumer(ctx, stream, cfg)
				return err
			}); err != nil {
				return fmt.Errorf("declare: filter consumer %s: %w", name, err)
			}
		}
	}
	return nil
}

// LedgerBacklog is what one ledger consumer still holds.
type LedgerBacklog struct {
	Consumer   string
	Partitions int // its generation: the LEDGER_PARTITIONS it belongs to
	Partition  int
	Pending    uint64 // stored and not yet delivered
	AckPending int    // delivered and not yet acked
}

// Drained reports whether the consumer holds nothing.
func (l LedgerBacklog) Drained() bool { return l.Pending == 0 && l.AckPending == 0 }

// LedgerBacklogs lists every ledger consumer on the bus, of every
// partition count, with what it still holds (the admin's view: changing
// LEDGER_PARTITIONS waits until the old count's consumers are drained).
func (b *Bus) LedgerBacklogs(ctx context.Context) ([]LedgerBacklog, error) {
	var out []LedgerBacklog
	for _, stream := range events.LedgerStreams() {
		s, err := b.js.Stream(ctx, stream)
		if err != nil {
			return nil, fmt.Errorf("ledger backlog: stream %s: %w", stream, err)
		}
		infos := s.ListConsumers(ctx)
		for ci := range infos.Info() {
			_, n, p, ok := events.ParseLedgerConsumer(ci.Name)
			if !ok {
				continue
			}
			out = append(out, LedgerBacklog{Consumer: ci.Name, Partitions: n, Partition: p, Pending: ci.NumPending, AckPending: ci.NumAckPending})
		}
		if err := infos.Err(); err != nil {
			return nil, fmt.Errorf("ledger backlog: list consumers of %s: %w", stream, err)
		}
	}
	slices.SortFunc(out, func(a, b LedgerBacklog) int {
		if a.Partitions != b.Partitions {
			return a.Partitions - b.Partitions
		}
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		if a.Consumer < b.Consumer {
			return -1
		}
		return 1
	})
	return out, nil
}

// DeleteLedgerConsumers deletes the ledger consumers of every partition
// count but keep, refusing (and deleting nothing) while one of them still
// holds messages: what it holds would be lost.
func (b *Bus) DeleteLedgerConsumers(ctx context.Context, keep int) ([]string, error) {
	all, err := b.LedgerBacklogs(ctx)
	if err != nil {
		return nil, err
	}
	var old []LedgerBacklog
	for _, l := range all {
		if l.Partitions == max(keep, 1) {
			continue
		}
		if !l.Drained() {
			return nil, fmt.Errorf("consumer %s still holds %d pending and %d unacked messages: run its ledgers (LEDGER_PARTITIONS=%d) until it is drained",
				l.Consumer, l.Pending, l.AckPending, l.Partitions)
		}
		old = append(old, l)
	}
	var deleted []string
	for _, l := range old {
		if err := b.js.DeleteConsumer(ctx, events.ConsumerStream(l.Consumer), l.Consumer); err != nil {
			return deleted, fmt.Errorf("delete consumer %s: %w", l.Consumer, err)
		}
		deleted = append(deleted, l.Consumer)
	}
	return deleted, nil
}
