// Package kvview keeps an in-memory copy of a JetStream KV bucket, fed by a
// watch, so that the gateway's hot path reads keys and balances from memory
// with no bus round trip.
package kvview

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Options tune a View.
type Options[T any] struct {
	// Decode turns a stored value into T; a value that does not decode is
	// logged (by key only) and treated as deleted, so a corrupt key entry
	// fails closed.
	Decode func([]byte) (T, error)
	// Newer, when set, reports whether next may replace cur (a balance
	// with a lower sequence is stale and dropped).
	Newer func(cur, next T) bool
	// OnChange, when set, is called after every applied change, outside
	// the view's lock.
	OnChange func(key string, v T, deleted bool)
	// Connected, when set, reports whether the bus connection is up. After
	// the connection comes back the view watches afresh at once, rather
	// than wait for the old watch to notice it lost its consumer (which
	// can take tens of seconds), and drops keys deleted meanwhile.
	Connected func() bool
	Logger    *slog.Logger
}

// View is a watched copy of one bucket. Get is safe for concurrent use with
// the watch that updates it.
type View[T any] struct {
	bucket string
	open   func(context.Context) (jetstream.KeyValue, error)
	o      Options[T]
	mu     sync.RWMutex
	m      map[string]T
	ready  chan struct{}
	once   sync.Once
}

// New returns a view of the bucket that open opens; it fills once Run is
// running.
func New[T any](bucket string, open func(context.Context) (jetstream.KeyValue, error), o Options[T]) *View[T] {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &View[T]{bucket: bucket, open: open, o: o, m: map[string]T{}, ready: make(chan struct{})}
}

// Get returns the value under key.
func (v *View[T]) Get(key string) (T, bool) {
	v.mu.RLock()
	val, ok := v.m[key]
	v.mu.RUnlock()
	return val, ok
}

// Len is the number of keys held.
func (v *View[T]) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.m)
}

// Ready is closed once the bucket's current values have all been loaded.
func (v *View[T]) Ready() <-chan struct{} { return v.ready }

// Run watches the bucket until ctx ends, re-watching after a failure, and
// returns nil on cancel. The view keeps its last values while the bus is
// unreachable.
func (v *View[T]) Run(ctx context.Context) error {
	for {
		err := v.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		v.o.Logger.Warn("kv watch ended; re-watching", "bucket", v.bucket, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (v *View[T]) watch(ctx context.Context) error {
	kv, err := v.open(ctx)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", v.bucket, err)
	}
	defer func() { _ = w.Stop() }()
	// replayed collects the keys of the initial replay, so that keys
	// deleted while no watch ran are dropped at its end.
	replayed := map[string]bool{}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	wasUp := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if v.o.Connected == nil {
				continue
			}
			up := v.o.Connected()
			if up && !wasUp {
				return errors.New("bus reconnected")
			}
			wasUp = up
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watcher closed")
			}
			if e == nil {
				if replayed != nil {
					v.dropAllBut(replayed)
					replayed = nil
				}
				v.once.Do(func() { close(v.ready) })
				continue
			}
			if replayed != nil {
				replayed[e.Key()] = true
			}
			v.apply(e)
		}
	}
}

func (v *View[T]) dropAllBut(keep map[string]bool) {
	var gone []string
	v.mu.Lock()
	for k := range v.m {
		if !keep[k] {
			delete(v.m, k)
			gone = append(gone, k)
		}
	}
	v.mu.Unlock()
	if v.o.OnChange != nil {
		var zero T
		for _, k := range gone {
			v.o.OnChange(k, zero, true)
		}
	}
}

func (v *View[T]) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	var zero T
	if e.Operation() != jetstream.KeyValuePut {
		v.mu.Lock()
		delete(v.m, key)
		v.mu.Unlock()
		if v.o.OnChange != nil {
			v.o.OnChange(key, zero, true)
		}
		return
	}
	val, err := v.o.Decode(e.Value())
	if err != nil {
		v.o.Logger.Error("kv value does not decode; treating it as absent", "bucket", v.bucket, "err", err)
		v.mu.Lock()
		delete(v.m, key)
		v.mu.Unlock()
		if v.o.OnChange != nil {
			v.o.OnChange(key, zero, true)
		}
		return
	}
	v.mu.Lock()
	if cur, ok := v.m[key]; ok && v.o.Newer != nil && !v.o.Newer(cur, val) {
		v.mu.Unlock()
		return
	}
	v.m[key] = val
	v.mu.Unlock()
	if v.o.OnChange != nil {
		v.o.OnChange(key, val, false)
	}
}
