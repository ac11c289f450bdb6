package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"

	"github.com/onekey-oss/onekey/api/catalog"
)

// didNoWork reports whether an upstream status, answered before any
// response body, proves the provider did no work on the request: a rate
// limit, or the provider's own overload error (503, Anthropic's 529). Any
// other error status may come after work was done (a 500 while generating),
// so the request is not sent again.
func didNoWork(p catalog.Provider, status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case 529: // Anthropic's overloaded_error
		return p == catalog.Anthropic
	}
	return false
}

// sentTrace records whether an upstream request was written in full: from
// then on the provider may act on it.
type sentTrace struct {
	sent atomic.Bool
}

func (t *sentTrace) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			t.sent.Store(true)
		}
	}}
}

var errBodyReleased = errors.New("request body released")

// upstreamBody is the request body as sent upstream. The transport may read
// it more than once (a new connection, or a retry of its own before
// anything was written), each time through reader; release drops the
// gateway's copy once the provider has it all, so a long answer is not read
// while megabytes of prompt stay in memory.
type upstreamBody struct {
	mu   sync.Mutex
	b    []byte
	size int
	// released runs once, when the body is released (it gives the bytes
	// back to the in-flight body budget).
	released func()
}

func newUpstreamBody(b []byte, released func()) *upstreamBody {
	return &upstreamBody{b: b, size: len(b), released: released}
}

// reader returns a new reader of the whole body, or an error once it has
// been released.
func (u *upstreamBody) reader() (io.ReadCloser, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.b == nil && u.size > 0 {
		return nil, errBodyReleased
	}
	return &bodyReader{u: u}, nil
}

// release drops the body; it is called from the handler's goroutine only.
func (u *upstreamBody) release() {
	u.mu.Lock()
	u.b = nil
	u.mu.Unlock()
	if u.released != nil {
		u.released()
		u.released = nil
	}
}

// bodyReader reads an upstreamBody; it fails, rather than reading freed
// memory, if the body was released while it was being sent.
type bodyReader struct {
	u   *upstreamBody
	off int
}

func (r *bodyReader) Read(p []byte) (int, error) {
	r.u.mu.Lock()
	defer r.u.mu.Unlock()
	if r.off >= r.u.size {
		return 0, io.EOF
	}
	if r.u.b == nil {
		return 0, errBodyReleased
	}
	n := copy(p, r.u.b[r.off:])
	r.off += n
	return n, nil
}

func (r *bodyReader) Close() error { return nil }
