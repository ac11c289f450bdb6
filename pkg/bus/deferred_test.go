package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
)

// The ledger answers a credit lease request once its batch is written; by
// then its connection may have moved to another node, where the server
// refuses a reply on the ordinary inbox (its permission to answer is the
// receiving connection's). Asked with RequestDeferred, the answer sent on
// another connection of the ledger reaches the gateway; asked the ordinary
// way it does not (the gateways' 503 billing_unavailable after a ledger's
// node went away). No other user may answer in the ledger's place.
func TestBus_TheLedgersAnswerSentOnAnotherConnectionReachesTheGateway(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	gw := srv.ConnectAs(t, bus.UserGateway)
	received := srv.ConnectAs(t, bus.UserLedger)
	answers := srv.ConnectAs(t, bus.UserLedger) // the ledger after its reconnection
	pay := srv.ConnectAs(t, bus.UserPayments)
	subject := events.FamilyLease + ".acc1"

	if _, err := gw.RequestDeferred(short(t), subject, []byte(`{}`)); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("a deferred request nobody serves: %v, want no responders", err)
	}

	reqs := make(chan *nats.Msg, 4)
	sub, err := received.Conn().ChanSubscribe(events.FamilyLease+".*", reqs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := received.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	type reply struct {
		data string
		err  error
	}
	ask := func(deferred bool) chan reply {
		out := make(chan reply, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var m *nats.Msg
			var err error
			if deferred {
				m, err = gw.RequestDeferred(ctx, subject, []byte(`{}`))
			} else {
				m, err = gw.Conn().RequestWithContext(ctx, subject, []byte(`{}`))
			}
			if err != nil {
				out <- reply{err: err}
				return
			}
			out <- reply{data: string(m.Data)}
		}()
		return out
	}
	answer := func(b *bus.Bus, m *nats.Msg, data string) {
		t.Helper()
		if err := b.Conn().Publish(m.Reply, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := b.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}

	got := ask(true)
	m := <-reqs
	answer(pay, m, "payments") // refused: not the ledger
	answer(answers, m, "ledger")
	if r := <-got; r.err != nil || r.data != "ledger" {
		t.Fatalf("deferred request: %q, %v; want the ledger's answer from its other connection", r.data, r.err)
	}

	got = ask(false)
	m = <-reqs
	answer(answers, m, "ledger")
	if r := <-got; r.err == nil {
		t.Fatalf("an ordinary request was answered %q from a connection that did not receive it: the server allows it now, RequestDeferred may be unneeded", r.data)
	}
}
