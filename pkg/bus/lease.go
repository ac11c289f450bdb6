package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
)

// Lease is a single-holder lease kept in the KV bucket "leases" (declared
// in topology.go, whose TTL is the lease's TTL).
//
// How it works, and what it guarantees:
//   - Taking it is a KV Create of its key: it succeeds only if the key holds
//     nothing (never taken, released, or expired), so two takers never both
//     win.
//   - The holder renews it every TTL/4 with a KV Update on the revision it
//     last wrote; an update fails if anyone else wrote the key since, so a
//     holder whose lease expired and was taken over cannot renew it.
//   - The bucket's TTL removes an entry not rewritten for TTL, so a lease
//     whose holder died is free TTL after its last renewal.
//   - The holder counts its lease as lost TTL/2 after it *sent* its last
//     successful renewal (the server stamped that entry later, so it
//     expires no earlier than TTL after that moment). So it stops at least
//     TTL/2 before anyone else can take the lease: that half is for the
//     work in hand when it notices. Clocks of different machines are never
//     compared, only this process's monotonic clock.
//
// Lost is closed, and the contexts from Context are cancelled, when the
// lease is lost or released. A Lease is safe for concurrent use.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	ttl    time.Duration
	log    *slog.Logger

	lost     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	lostOnce sync.Once
	mu       sync.Mutex
	rev      uint64
	why      string
}

// LeaseOptions names a lease and its holder.
type LeaseOptions struct {
	// Name is the key in bucket "leases", e.g. events.LeaseLedger.
	Name string
	// Holder identifies the holder to operators (stored as the value);
	// empty: host name, process id and a random suffix.
	Holder string
	// Logger for lease changes; nil: none.
	Logger *slog.Logger
	// Waiting, when set, is called once each time Acquire finds the lease
	// held by someone else, with that holder.
	Waiting func(holder string)
}

// AcquireLease waits until it holds the lease, retrying every TTL/4 while
// another process holds it and while the bus or the bucket is unavailable
// (it never gives up for those); it returns an error only when ctx ends.
func (b *Bus) AcquireLease(ctx context.Context, o LeaseOptions) (*Lease, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	holder := o.Holder
	if holder == "" {
		holder = defaultHolder()
	}
	waitingFor := ""
	for {
		l, err := b.tryLease(ctx, o.Name, holder, log)
		if err == nil {
			return l, nil
		}
		var held errHeld
		switch {
		case errors.As(err, &held):
			if string(held) != waitingFor {
				waitingFor = string(held)
				log.Info("lease held by another process; waiting", "lease", o.Name, "holder", waitingFor)
				if o.Waiting != nil {
					o.Waiting(waitingFor)
				}
			}
		case ctx.Err() == nil:
			log.Warn("lease: cannot take it yet", "lease", o.Name, "err", err)
		}
		retry := time.Second
		if l != nil {
			retry = l.ttl / 4
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("acquire lease %s: %w", o.Name, ctx.Err())
		case <-time.After(retry):
		}
	}
}

// errHeld: the lease is someone else's (the value is the holder).
type errHeld string

func (e errHeld) Error() string { return "lease held by " + string(e) }

// tryLease makes one attempt. On errHeld it also returns a Lease with the
// bucket's TTL (not held), for the retry interval.
func (b *Bus) tryLease(ctx context.Context, name, holder string, log *slog.Logger) (*Lease, error) {
	kv, err := b.KV(ctx, events.BucketLeases)
	if err != nil {
		return nil, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", events.BucketLeases, err)
	}
	ttl := st.TTL()
	if ttl <= 0 {
		return nil, fmt.Errorf("bucket %s has no TTL: a dead holder's lease would never expire", events.BucketLeases)
	}
	l := &Lease{kv: kv, key: name, holder: holder, ttl: ttl, log: log,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	sent := time.Now()
	cctx, cancel := context.WithTimeout(ctx, ttl/2)
	rev, err := kv.Create(cctx, name, []byte(holder))
	cancel()
	if errors.Is(err, jetstream.ErrKeyExists) {
		who := "another process"
		if e, gerr := kv.Get(ctx, name); gerr == nil {
			who = string(e.Value())
		}
		return l, errHeld(who)
	}
	if err != nil {
		return nil, fmt.Errorf("take lease %s: %w", name, err)
	}
	l.rev = rev
	log.Info("lease taken", "lease", name, "holder", holder, "ttl", ttl)
	go l.keep(sent.Add(ttl / 2))
	return l, nil
}

// keep renews the lease until it is released or lost.
func (l *Lease) keep(deadline time.Time) {
	defer close(l.done)
	tick := time.NewTicker(l.ttl / 4)
	defer tick.Stop()
	for {
		expire := time.NewTimer(time.Until(deadline))
		select {
		case <-l.stop:
			expire.Stop()
			return
		case <-expire.C:
			l.lose("not renewed in time")
			return
		case <-tick.C:
			expire.Stop()
		}
		sent := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		// An operator may shorten the bucket's TTL while this lease is
		// held: follow it down (a longer one only makes this holder
		// stop earlier than it must).
		if st, err := l.kv.Status(ctx); err == nil && st.TTL() > 0 && st.TTL() < l.ttl {
			l.ttl = st.TTL()
			tick.Reset(l.ttl / 4)
		}
		l.mu.Lock()
		rev, err := l.kv.Update(ctx, l.key, []byte(l.holder), l.rev)
		if err == nil {
			l.rev = rev
		}
		l.mu.Unlock()
		cancel()
		switch {
		case err == nil:
			deadline = sent.Add(l.ttl / 2)
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyNotFound):
			l.lose("taken over or expired")
			return
		default:
			l.log.Warn("lease: renewal failed; retrying until its deadline", "lease", l.key, "deadline", time.Until(deadline), "err", err)
		}
	}
}

func (l *Lease) lose(why string) {
	l.lostOnce.Do(func() {
		l.mu.Lock()
		l.why = why
		l.mu.Unlock()
		if why != "released" {
			l.log.Error("lease lost: stopping the work it guards", "lease", l.key, "holder", l.holder, "why", why)
		}
		close(l.lost)
	})
}

// Lost is closed when the lease is lost (or released).
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// LostReason is why the lease was lost ("" while held, "released" after
// Release).
func (l *Lease) LostReason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.why
}

// Context returns a context derived from parent that is cancelled when
// the lease is lost or released; its cancel func must be called.
func (l *Lease) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-l.lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Release stops renewing and deletes the lease if it is still this
// holder's, so a successor need not wait for its TTL. Safe to call more
// than once and after the lease was lost.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	wasHeld := l.LostReason() == ""
	l.lose("released")
	if !wasHeld {
		return nil
	}
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	l.log.Info("lease released", "lease", l.key, "holder", l.holder)
	return nil
}

func defaultHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
