package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
)

// DeferredInbox is the subject prefix under which user receives deferred
// replies: answers its answerer sends after some work (the ledger answers a
// credit lease request once the batch holding it is written), possibly
// through another node than the one that delivered the request.
//
// Why not the ordinary inbox: the NATS server lets a responder publish to
// a request's reply subject only on the connection, and the node, that
// delivered the request to it (allow_responses is tracked per connection).
// When the responder's node goes away in between and its client reconnects
// to another node, that node refuses the answer (a publish violation), and
// the asker waits out its timeout. An answerer may publish to the deferred
// inbox of the users it answers (Access.DeferredRepliesTo) from any
// connection; since only deferred replies come there, that is all it can
// reach of the asker.
func DeferredInbox(user string) string { return "_DEFERRED_" + user }

// deferredMux routes deferred replies to the requests waiting for them:
// one subscription per connection, on DeferredInbox(user).<conn>.*; the
// client subscribes again by itself after a reconnect.
type deferredMux struct {
	mu      sync.Mutex
	prefix  string // DeferredInbox(user) + "." + this connection's random token + "."
	sub     *nats.Subscription
	next    uint64
	waiting map[string]chan *nats.Msg
}

// RequestDeferred sends data on subject as a request whose answer may come
// late (see DeferredInbox) and waits for it until ctx ends. As
// nats.Conn.RequestWithContext, it fails at once with nats.ErrNoResponders
// when nothing serves subject. Safe for concurrent use.
func (b *Bus) RequestDeferred(ctx context.Context, subject string, data []byte) (*nats.Msg, error) {
	reply, ch, err := b.deferred.open(b.nc, b.user)
	if err != nil {
		return nil, err
	}
	defer b.deferred.close(reply)
	if err := b.nc.PublishRequest(subject, reply, data); err != nil {
		return nil, fmt.Errorf("bus: request %s: %w", subject, err)
	}
	select {
	case m := <-ch:
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			return nil, nats.ErrNoResponders
		}
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// open subscribes to the deferred inbox on first use and returns a fresh
// reply subject and the channel its answer comes on.
func (d *deferredMux) open(nc *nats.Conn, user string) (string, chan *nats.Msg, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sub == nil {
		var tok [12]byte
		if _, err := rand.Read(tok[:]); err != nil {
			return "", nil, fmt.Errorf("bus: deferred inbox: %w", err)
		}
		prefix := DeferredInbox(user) + "." + hex.EncodeToString(tok[:]) + "."
		sub, err := nc.Subscribe(prefix+"*", d.deliver)
		if err != nil {
			return "", nil, fmt.Errorf("bus: subscribe to the deferred inbox: %w", err)
		}
		d.prefix, d.sub, d.waiting = prefix, sub, map[string]chan *nats.Msg{}
	}
	d.next++
	reply := d.prefix + strconv.FormatUint(d.next, 36)
	ch := make(chan *nats.Msg, 1)
	d.waiting[reply] = ch
	return reply, ch, nil
}

func (d *deferredMux) close(reply string) {
	d.mu.Lock()
	delete(d.waiting, reply)
	d.mu.Unlock()
}

// deliver hands an answer to its request, if it still waits; a second
// answer, or one after the request gave up, is dropped.
func (d *deferredMux) deliver(m *nats.Msg) {
	d.mu.Lock()
	ch := d.waiting[m.Subject]
	delete(d.waiting, m.Subject)
	d.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}
