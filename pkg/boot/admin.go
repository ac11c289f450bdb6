package boot

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/onekey-oss/onekey/pkg/httpx"
)

// Probes adds GET /healthz and GET /readyz to mux, answering as every
// onekey service does: /healthz 200 "ok" while the process serves at all;
// /readyz 200 "ok" when ready() reports true, else 503 "not ready". A nil
// ready is never ready. Services whose public listener also answers probes
// (the gateway) use it there, so both listeners answer alike.
func Probes(mux *http.ServeMux, ready func() bool) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready == nil || !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}

// AdminHandler is the operators' listener of every service: /healthz,
// /readyz (from ready) and, when metrics is set, /metrics. Nothing else.
func AdminHandler(metrics http.Handler, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	Probes(mux, ready)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

// Admin is a running admin server (AdminHandler on its own listener).
// Until SetReady is called, /readyz answers 503: a service is not ready
// while it starts. Its methods are safe for concurrent use.
type Admin struct {
	ln    net.Listener
	ready atomic.Pointer[func() bool]
	stop  context.CancelFunc
	done  chan error
}

// ServeAdmin listens on addr and serves the admin handler until Close.
func ServeAdmin(addr string, metrics http.Handler, log *slog.Logger) (*Admin, error) {
	ln, err := httpx.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	a := &Admin{ln: ln, done: make(chan error, 1)}
	srv := httpx.NewServer(AdminHandler(metrics, a.isReady), httpx.ServerConfig{})
	if log != nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	}
	ctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	go func() { a.done <- httpx.Serve(ctx, srv, ln, 5*time.Second) }()
	return a, nil
}

// SetReady sets what /readyz asks; nil makes it answer 503 again.
func (a *Admin) SetReady(ready func() bool) {
	if ready == nil {
		a.ready.Store(nil)
		return
	}
	a.ready.Store(&ready)
}

func (a *Admin) isReady() bool {
	f := a.ready.Load()
	return f != nil && (*f)()
}

// Addr is the address the admin server listens on.
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Close stops taking connections and waits (up to 5 s, or ctx) for the
// requests in flight. It returns nil after a clean shutdown.
func (a *Admin) Close(ctx context.Context) error {
	a.stop()
	select {
	case err := <-a.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("admin: close: %w", ctx.Err())
	}
}
