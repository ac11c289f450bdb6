package events_test

import (
	"testing"

	"github.com/onekey-oss/onekey/api/events"
)

func TestLedgerPartitionNames_RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		base string
		n, p int
		want string
	}{
		{events.ConsumerLedgerUsage, 1, 0, "ledger-usage"},
		{events.ConsumerLedgerUsage, 2, 1, "ledger-usage-1of2"},
		{events.ConsumerLedgerAccounts, 16, 15, "ledger-accounts-15of16"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			got := events.LedgerConsumer(tc.base, tc.n, tc.p)
			if got != tc.want {
				t.Fatalf("LedgerConsumer = %q, want %q", got, tc.want)
			}
			base, n, p, ok := events.ParseLedgerConsumer(got)
			if !ok || base != tc.base || n != tc.n || p != tc.p {
				t.Fatalf("ParseLedgerConsumer(%q) = %q %d %d %v", got, base, n, p, ok)
			}
			if events.ConsumerStream(got) != events.ConsumerStream(tc.base) {
				t.Fatalf("ConsumerStream(%q) = %q", got, events.ConsumerStream(got))
			}
			n, p, ok = events.ParseLedgerLease(events.LedgerLease(tc.n, tc.p))
			if !ok || n != tc.n || p != tc.p {
				t.Fatalf("ParseLedgerLease(%q) = %d %d %v", events.LedgerLease(tc.n, tc.p), n, p, ok)
			}
		})
	}
	for _, bad := range []string{"ledger-usage-2of2", "ledger-usage-0of1", "ledger-usage-01of2", "notifier", "ledger-usagex"} {
		if _, _, _, ok := events.ParseLedgerConsumer(bad); ok {
			t.Errorf("ParseLedgerConsumer(%q) accepted", bad)
		}
	}
}

func TestPublished_UndoesThePartitionTransform(t *testing.T) {
	for in, want := range map[string]string{
		"usage.recorded.2.1.acc_1": "usage.recorded.acc_1",
		"usage.recorded.acc_1":     "usage.recorded.acc_1",
		"deadletter.ledger-usage":  "deadletter.ledger-usage",
		"a.b.c.d.e":                "a.b.c.d.e",
	} {
		if got := events.Published(in); got != want {
			t.Errorf("Published(%q) = %q, want %q", in, got, want)
		}
	}
}
