// Package e2estack is the scaffolding of the end-to-end tests: services run in
// the background of a test (Run), polling for what the services do
// (WaitFor), and the stack several tests share (New): the real ledger and
// gateway replicas on one embedded bus and database, each connected as its
// own bus user, in front of a fake provider.
package e2estack

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Running is one service's Run in the background of a test.
type Running struct {
	name   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Run starts run in the background and stops it when t ends, or earlier
// at Stop. A Run that returns an error, or does not return within 30s of
// its cancel, fails the test.
func Run(t testing.TB, name string, run func(context.Context) error) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{name: name, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Stop cancels the service's Run and waits for it to return; only the
// first call does anything, so a test may stop a service before its end.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("%s: %v", r.name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30s", r.name)
		}
	})
}

// WaitFor polls cond until it holds, failing the test after a minute.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, time.Minute, what, cond)
}

// WaitWithin polls cond until it holds, failing the test after give.
func WaitWithin(t testing.TB, give time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(give)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, give)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Logger is the services' logger: warnings and errors in the test's output
// under -v, nothing otherwise.
func Logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}
