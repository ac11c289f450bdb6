// Package payments_test runs the payment paths end to end on the embedded
// stack: the real ledger, notifier, gateway, payments and chainwatcher on one
// embedded NATS and FerretDB; only the third parties are stand-ins (Stripe's
// signed webhooks, a simulated chain, a local Resend, the gateway's demo
// upstream).
package payments_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const whsec = "whsec_e2e"

// request sends req on subject over b and decodes the reply, as auth asks
// payments.
func request[Rep any](t *testing.T, b *bus.Bus, subject string, req any) Rep {
	t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := b.Conn().Request(subject, data, 30*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	var rep Rep
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func mailsTo(s *resendtest.Server, addr string) []resendtest.Mail {
	var out []resendtest.Mail
	for _, m := range s.Mails() {
		for _, to := range m.To {
			if to == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

// balanceReader reads acc's value in KV balances, as the gateway does.
func balanceReader(t *testing.T, b *bus.Bus, acc string) func() (events.BalanceV1, bool) {
	kv, err := b.KV(context.Background(), events.BucketBalances)
	if err != nil {
		t.Fatal(err)
	}
	return func() (events.BalanceV1, bool) {
		e, err := kv.Get(context.Background(), acc)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return events.BalanceV1{}, false
		}
		if err != nil {
			t.Fatal(err)
		}
		var v events.BalanceV1
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			t.Fatal(err)
		}
		return v, true
	}
}
