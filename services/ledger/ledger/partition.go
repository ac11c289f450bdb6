package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
)

// Partitions (LEDGER_PARTITIONS=N, LEDGER_PARTITION=p). The accounts are
// split into N partitions by events.PartitionOf, the hash the NATS server's
// partition() computes; the bus admin maps the ledger's streams so that
// partition p's consumers (events.LedgerConsumers) deliver only its
// accounts' events. Each process writes one partition, holding that
// partition's writer lease (events.LedgerLease), so one account always
// has one writer, also during a rollout. What each process does:
//
//   - applies its consumers' events, and answers the credit-lease requests
//     of its accounts only: every writer receives every request (core NATS
//     has no stream to map) and ignores the others', which their own
//     partition's writer answers; a request for a partition whose writer is
//     down gets no answer and the gateway asks again later;
//   - finishes only its own half-written batches (their record names the
//     partition), builds the read models once for its own accounts, and
//     reclaims only its own accounts' credit leases;
//   - partition 0 alone sweeps expired usage rows and days (a delete by
//     expiry date, for every account: correct from any one process, and
//     pointless from N at once);
//   - generation lookups read the database, which every partition shares,
//     and any ledger process answers them (the gateway needs no N).
//
// With N = 1 all of this is the single writer of before: the consumers,
// the lease and the batch records keep their names.

// owns reports whether account is in this process's partition.
func (s *Service) owns(account string) bool {
	return events.PartitionOf(account, s.cfg.Partitions) == s.cfg.Partition
}

// partitionKey names this process's partition in batch records and
// migrations: "" with one partition (as before partitions), "<p>of<n>".
func (s *Service) partitionKey() string {
	if s.cfg.Partitions <= 1 {
		return ""
	}
	return fmt.Sprintf("%dof%d", s.cfg.Partition, s.cfg.Partitions)
}

// otherCountHolding returns the writer lease of a ledger of another
// partition count that is held now, if any. Changing LEDGER_PARTITIONS is
// done by stopping every ledger of the old count before starting those of
// the new (README, Operations); a writer of the new count that finds one
// of the old still holding its lease gives its own back and waits, so a
// mistaken rollout of both at once never has two writers for one account.
// Both take their own lease before they look, so of two that start
// together at least one sees the other.
func (s *Service) otherCountHolding(ctx context.Context) (string, error) {
	kv, err := s.bus.KV(ctx, events.BucketLeases)
	if err != nil {
		return "", err
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("list leases: %w", err)
	}
	held := ""
	for k := range keys.Keys() {
		if n, _, ok := events.ParseLedgerLease(k); ok && n != s.cfg.Partitions && held == "" {
			held = k
		}
	}
	return held, nil
}

// leaseOptions is this partition's writer lease.
func (s *Service) leaseOptions() bus.LeaseOptions {
	return bus.LeaseOptions{Name: events.LedgerLease(s.cfg.Partitions, s.cfg.Partition), Logger: s.log}
}

// otherCountBackoff is the pause before a writer that found a ledger of
// another partition count running tries again.
const otherCountBackoff = 5 * time.Second
