package boottest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Running is a service's main run started by a test (Start), with the
// environment the test chose.
type Running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Start runs run in the background until Stop, or until the test ends
// (then cancelled and waited for without a verdict: the test failed
// before it could stop it).
func Start(t testing.TB, run func(context.Context) error) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	t.Cleanup(func() {
		r.once.Do(func() {
			cancel()
			select {
			case <-r.done:
			case <-time.After(30 * time.Second):
			}
		})
	})
	return r
}

// Done yields run's error if it returns (for WaitStatus).
func (r *Running) Done() <-chan error { return r.done }

// Stop cancels run and fails the test unless it returns nil within 30s: a
// clean shutdown.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Fatalf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("run did not stop within 30s")
		}
	})
}

// CheckReadyOnceDeclared asserts what the admin server at admin of a
// service started before the bus topology exists answers: /healthz 200 at
// once, /readyz 503 while the service waits for the topology (after a
// second of its attempts to bind), and, once declare has declared it,
// /readyz 200 and all that CheckAdmin checks (with target_info).
func CheckReadyOnceDeclared(t testing.TB, admin string, done <-chan error, declare func()) {
	t.Helper()
	WaitStatus(t, "http://"+admin+"/healthz", http.StatusOK, done)
	time.Sleep(time.Second) // a few binding attempts
	WaitStatus(t, "http://"+admin+"/readyz", http.StatusServiceUnavailable, done)
	declare()
	WaitStatus(t, "http://"+admin+"/readyz", http.StatusOK, done)
	CheckAdmin(t, admin, "target_info")
}
