package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// bodyBudget bounds the bytes of request bodies the gateway holds, across
// all requests: a request whose body would go beyond it is answered 503.
// Bytes are counted as buffer capacity when they are about to arrive, never
// from a Content-Length a client announces. Safe for concurrent use.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// take counts n more bytes, or reports false (taking none) when that would
// go beyond the budget.
func (b *bodyBudget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// releaseBody gives back the bytes readBody counted for a body, once it is
// no longer needed. It may be called more than once.
func (s *Service) releaseBody(held *int64) {
	if *held > 0 {
		s.bodies.used.Add(-*held)
		*held = 0
	}
}

// firstBodyBuffer is the buffer a body starts in when its length is not
// known to be smaller; it doubles as bytes arrive.
const firstBodyBuffer = 16 << 10

// readBody reads the whole request body under the size and time limits and
// the in-flight budget. The buffer grows as bytes arrive: an announced
// Content-Length only caps it, so a client that announces a large body and
// sends little holds little. It returns the bytes counted against the
// budget, which the caller gives back with releaseBody.
func (s *Service) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int64, *apiError) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		return nil, 0, s.bodyTooLarge()
	}
	// The most the buffer can need: one byte more than the body, to read
	// its end without growing.
	ceiling := limit + 1
	if r.ContentLength >= 0 {
		ceiling = r.ContentLength + 1
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	body := http.MaxBytesReader(w, r.Body, limit)
	var buf []byte
	var held int64
	var err error
	for {
		if len(buf) == cap(buf) {
			n := min(max(int64(cap(buf)), firstBodyBuffer), ceiling-int64(cap(buf)))
			if n <= 0 {
				n = 512 // more bytes than announced: the reader reports it
			}
			if !s.bodies.take(n) {
				err = errBodyBudget
				break
			}
			held += n
			nb := make([]byte, len(buf), int64(cap(buf))+n)
			copy(nb, buf)
			buf = nb
		}
		var n int
		n, err = body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) {
		_ = rc.SetReadDeadline(time.Time{})
		return buf, held, nil
	}
	// The connection cannot be reused: do not let the server wait for the
	// rest of a body that is not coming.
	w.Header().Set("Connection", "close")
	s.releaseBody(&held)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errBodyBudget):
		return nil, 0, errUnavailable("server_busy", "The gateway is receiving too many large requests right now; try again shortly.")
	case errors.As(err, &mbe):
		return nil, 0, s.bodyTooLarge()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, 0, &apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error", code: "request_timeout", message: "The request body was not received in time."}
	}
	return nil, 0, errBadRequest("The request body could not be read.")
}

var errBodyBudget = errors.New("in-flight body budget spent")

func (s *Service) bodyTooLarge() *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
		message: fmt.Sprintf("The request body is larger than the limit of %d bytes.", s.cfg.MaxBodyBytes)}
}
