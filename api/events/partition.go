package events

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Ledger partitions. With LEDGER_PARTITIONS=N (N > 1) the streams the
// ledger reads (LedgerStreams) store each event under
// "<family>.<N>.<p>.<account>", p = PartitionOf(account, N): the bus admin
// declares a stream subject transform
//
//	*.*.*  ->  {{wildcard(1)}}.{{wildcard(2)}}.N.{{partition(N,3)}}.{{wildcard(3)}}
//
// and partition p of N reads them through its own durable consumers
// (LedgerConsumer), filtered to "<family>.N.p.*". Publishers do not change:
// they publish "<family>.<account>" as before, and the server maps it when
// it stores it. N is a token of its own so that the consumers of two
// generations (before and after N changes) never share a subject. With
// N = 1 nothing is transformed and the consumers keep their names.

// LedgerStreams are the streams whose events the ledger applies, one
// writer per account: these are the partitioned ones.
func LedgerStreams() []string { return []string{StreamUsage, StreamBilling, StreamAccounts} }

// MaxLedgerPartitions bounds LEDGER_PARTITIONS.
const MaxLedgerPartitions = 64

// PartitionOf is the partition of account among n, exactly as the NATS
// server's partition(n, token) computes it (FNV-1a 32 of the token, modulo
// n), so the ledger routes core requests (credit leases) the way the
// server routes stored events. A test in pkg/bus pins the two together.
func PartitionOf(account string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(account))
	return int(h.Sum32() % uint32(n))
}

// LedgerTransform is the stream subject transform that maps the ledger's
// streams to n partitions: source and destination. For n ≤ 1 there is
// none (both empty).
func LedgerTransform(n int) (src, dest string) {
	if n <= 1 {
		return "", ""
	}
	return "*.*.*", fmt.Sprintf("{{wildcard(1)}}.{{wildcard(2)}}.%d.{{partition(%d,3)}}.{{wildcard(3)}}", n, n)
}

// LedgerConsumer names the durable consumer of partition p of n for one
// of the ledger's base consumers (ConsumerLedgerUsage, ...): the base name
// itself when n = 1 (today's consumers), base + "-<p>of<n>" otherwise.
func LedgerConsumer(base string, n, p int) string {
	if n <= 1 {
		return base
	}
	return fmt.Sprintf("%s-%dof%d", base, p, n)
}

// ParseLedgerConsumer splits a ledger consumer's name into its base and
// its partition; ok is false for any other consumer.
func ParseLedgerConsumer(name string) (base string, n, p int, ok bool) {
	for _, b := range []string{ConsumerLedgerUsage, ConsumerLedgerBilling, ConsumerLedgerAccounts} {
		if name == b {
			return b, 1, 0, true
		}
		rest, found := strings.CutPrefix(name, b+"-")
		if !found {
			continue
		}
		ps, ns, found := strings.Cut(rest, "of")
		pi, perr := strconv.Atoi(ps)
		ni, nerr := strconv.Atoi(ns)
		if !found || perr != nil || nerr != nil || ni < 2 || pi < 0 || pi >= ni || LedgerConsumer(b, ni, pi) != name {
			return "", 0, 0, false
		}
		return b, ni, pi, true
	}
	return "", 0, 0, false
}

// LedgerConsumers are partition p of n's three durables.
func LedgerConsumers(n, p int) []string {
	return []string{LedgerConsumer(ConsumerLedgerAccounts, n, p), LedgerConsumer(ConsumerLedgerBilling, n, p),
		LedgerConsumer(ConsumerLedgerUsage, n, p)}
}

// LedgerFilters are the subjects partition p of n reads from stream: each
// family's "<family>.*" when n = 1 (three tokens: the subjects as
// published, never a transformed one), "<family>.<n>.<p>.*" otherwise.
func LedgerFilters(stream string, n, p int) []string {
	var out []string
	for _, f := range StreamSubjects(stream) {
		family := strings.TrimSuffix(f, ".>")
		if n <= 1 {
			out = append(out, family+".*")
		} else {
			out = append(out, fmt.Sprintf("%s.%d.%d.*", family, n, p))
		}
	}
	return out
}

// LedgerLease is the writer lease of partition p of n in bucket "leases":
// LeaseLedger when n = 1 (today's), "ledger-<p>of<n>" otherwise.
func LedgerLease(n, p int) string {
	if n <= 1 {
		return LeaseLedger
	}
	return fmt.Sprintf("%s-%dof%d", LeaseLedger, p, n)
}

// ParseLedgerLease tells the partition of a ledger lease key; ok is false
// for any other key.
func ParseLedgerLease(key string) (n, p int, ok bool) {
	if key == LeaseLedger {
		return 1, 0, true
	}
	rest, found := strings.CutPrefix(key, LeaseLedger+"-")
	if !found {
		return 0, 0, false
	}
	ps, ns, found := strings.Cut(rest, "of")
	pi, perr := strconv.Atoi(ps)
	ni, nerr := strconv.Atoi(ns)
	if !found || perr != nil || nerr != nil || ni < 2 || pi < 0 || pi >= ni || LedgerLease(ni, pi) != key {
		return 0, 0, false
	}
	return ni, pi, true
}

// Published returns the subject an event was published on from the one a
// partitioned stream stored it under ("usage.recorded.2.1.acc" ->
// "usage.recorded.acc"); any other subject is returned as it is. Dead
// letters record it, so a replay is mapped to the partition of the day.
func Published(subject string) string {
	t := strings.Split(subject, ".")
	if len(t) != 5 {
		return subject
	}
	if _, err := strconv.Atoi(t[2]); err != nil {
		return subject
	}
	if _, err := strconv.Atoi(t[3]); err != nil {
		return subject
	}
	return t[0] + "." + t[1] + "." + t[4]
}
