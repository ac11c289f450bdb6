package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onekey-oss/onekey/services/gateway/internal/channel"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// relayedHeaders are the upstream response headers a client gets; the rest
// (the provider's own request ids, organization, rate-limit state of our
// provider account, cookies) stay with the gateway.
var relayedHeaders = []string{"Content-Type", "Retry-After", "Cache-Control"}

// captureLimit bounds how much of a non-streamed response is kept to read
// its usage; beyond it only the tail is kept (usage comes last).
const (
	captureLimit = 4 << 20
	captureTail  = 64 << 10
)

var (
	readBufs   = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	sseReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}
)

// idleWatch aborts an upstream call that stays silent: progress is a cheap
// counter bumped on every read, checked once per period, so silence is
// detected after between one and two periods.
type idleWatch struct {
	progress atomic.Int64
	seen     int64
	t        *time.Timer
}

func watchIdle(period time.Duration, cancel context.CancelFunc) *idleWatch {
	w := &idleWatch{}
	check := func() {
		if p := w.progress.Load(); p != w.seen {
			w.seen = p
			w.t.Reset(period)
			return
		}
		cancel()
	}
	w.t = time.AfterFunc(period, check)
	return w
}

func (w *idleWatch) touch() { w.progress.Add(1) }
func (w *idleWatch) stop()  { w.t.Stop() }

// relay writes the upstream response to the client, reading usage as it
// passes. cancel aborts the upstream call (idle timeout).
//
// A client that leaves does not end the relay: the rest of the answer is
// read (and dropped) to its end, for the provider's usage.
func (s *Service) relay(w http.ResponseWriter, shape errorShape, x exchange, ch *channel.Channel, resp *http.Response, info reqbody.Info, bill *biller, cancel context.CancelFunc, start time.Time) result {
	defer resp.Body.Close()
	res := result{reached: true, status: resp.StatusCode, channel: ch.Name}
	h := w.Header()
	for _, k := range relayedHeaders {
		if v, ok := resp.Header[k]; ok {
			h[k] = v
		}
	}
	ct := resp.Header.Get("Content-Type")
	sse := strings.HasPrefix(ct, "text/event-stream")
	// Idle timeout: silence inside a response aborts the upstream call.
	idle := watchIdle(s.cfg.IdleTimeout, cancel)
	defer idle.stop()
	if resp.StatusCode/100 != 2 {
		// Never relayed as it came: it is about the operator's account.
		s.relayError(w, shape, resp, idle, &res)
		return res
	}
	// start is when the client's request arrived: the time to first byte
	// is the client's wait, not the time since the provider's headers.
	if sse {
		h.Del("Content-Length")
		h["X-Accel-Buffering"] = []string{"no"}
		w.WriteHeader(resp.StatusCode)
		s.relaySSE(w, x.stream(info, bill), resp.Body, idle, &res, start)
		return res
	}
	s.relayBody(w, x, bill, resp, idle, &res, start)
	return res
}

// relayBody relays a plain answer. It is kept whole, up to captureLimit,
// so that its exchange can state the request's charge in it and in its
// header (the client gets it once the provider has sent all of it); a
// longer answer is relayed as it comes, without the charge, its usage
// still read from its tail.
func (s *Service) relayBody(w http.ResponseWriter, x exchange, bill *biller, resp *http.Response, idle *idleWatch, res *result, start time.Time) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	var doc []byte
	// Some answers are kept whole however long (up to maxWholeAnswer): a
	// translated one (its bytes are not the client's format), a stored
	// response (bound before its id reaches the client).
	limit, whole := captureLimit, false
	if wa, ok := x.(wholeAnswer); ok && wa.whole() {
		limit, whole = maxWholeAnswer, true
	}
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			idle.touch()
			if res.ttfb == 0 {
				res.ttfb = time.Since(start)
			}
			res.chunks++
			doc = append(doc, buf[:n]...)
			if len(doc) > limit && whole {
				res.aborted = true
				_, _ = io.Copy(io.Discard, touchReader{resp.Body, idle})
				writeError(w, shapeOpenAI, &apiError{status: http.StatusBadGateway, typ: "server_error", code: "upstream_error",
					message: "The upstream's answer is longer than this gateway keeps whole (64 MiB). The request was processed and is billed an estimate."})
				return
			}
			if len(doc) > limit {
				s.relayLongBody(w, x, bill, resp, doc, buf, idle, res)
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.aborted = true
			}
			break
		}
	}
	out := x.answer(doc, res, bill)
	h := w.Header()
	if res.aborted {
		// The answer broke off: the client gets what came, under the
		// provider's length, so that it sees it cut short too.
		out = doc
		setContentLength(h, resp.ContentLength)
	} else {
		if res.charged {
			res.charge.setHeader(h)
		}
		setContentLength(h, int64(len(out)))
	}
	w.WriteHeader(res.status)
	if _, err := w.Write(out); err != nil {
		res.clientGone = true
		return
	}
	_ = http.NewResponseController(w).Flush()
}

func setContentLength(h http.Header, n int64) {
	if n >= 0 {
		h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
	}
}

// relayLongBody relays the rest of an answer longer than captureLimit as it
// comes, after head (what was read of it), keeping only its tail to read
// its usage from.
func (s *Service) relayLongBody(w http.ResponseWriter, x exchange, bill *biller, resp *http.Response, head, buf []byte, idle *idleWatch, res *result) {
	setContentLength(w.Header(), resp.ContentLength)
	w.WriteHeader(res.status)
	if _, err := w.Write(head); err != nil {
		res.clientGone = true
	}
	capture := append(head[:0], head[len(head)-captureTail:]...)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			idle.touch()
			if !res.clientGone {
				if _, werr := w.Write(buf[:n]); werr != nil {
					res.clientGone = true
				}
			}
			res.chunks++
			capture = append(capture, buf[:n]...)
			if len(capture) > captureLimit {
				capture = append(capture[:0], capture[len(capture)-captureTail:]...)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.aborted = true
			}
			break
		}
	}
	if !res.clientGone {
		_ = http.NewResponseController(w).Flush()
	}
	// Only the tail is left: its last "usage" key is the top-level one,
	// since usage comes after the content in every provider's format.
	i := bytes.LastIndex(capture, []byte(`"usage"`))
	if i < 0 {
		return
	}
	rest := capture[i+len(`"usage"`):]
	j := bytes.IndexByte(rest, ':')
	if j < 0 {
		return
	}
	var raw json.RawMessage
	if json.NewDecoder(bytes.NewReader(rest[j+1:])).Decode(&raw) != nil {
		return
	}
	x.answer(append(append([]byte(`{"usage":`), raw...), '}'), res, bill)
}

// relaySSE relays a server-sent event stream event by event, flushing each;
// sr reads each event and decides what the client gets of it.
func (s *Service) relaySSE(w http.ResponseWriter, sr streamReader, body io.Reader, idle *idleWatch, res *result, start time.Time) {
	res.streamed = true
	rc := http.NewResponseController(w)
	br := sseReaders.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() { br.Reset(nil); sseReaders.Put(br) }()
	var ev []byte   // the raw event being assembled, lines included
	var name []byte // its "event:" name
	var data []byte // its "data:" payload
	var line []byte // a line longer than the reader's buffer
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			idle.touch()
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			line = append(line, chunk...)
			continue
		}
		if line != nil {
			chunk = append(line, chunk...)
			line = nil
		}
		if len(chunk) > 0 {
			ev = append(ev, chunk...)
			l := bytes.TrimRight(chunk, "\r\n")
			switch {
			case len(l) == 0:
				// End of an event.
				out := sr.event(ev, name, data, res)
				if len(out) > 0 {
					if res.ttfb == 0 {
						res.ttfb = time.Since(start)
					}
					if !res.clientGone {
						if _, werr := w.Write(out); werr != nil {
							res.clientGone = true
						} else if br.Buffered() == 0 && rc.Flush() != nil {
							res.clientGone = true
						}
					}
				}
				ev, name, data = ev[:0], name[:0], data[:0]
			case bytes.HasPrefix(l, []byte("data:")):
				d := bytes.TrimPrefix(l[5:], []byte(" "))
				if len(data) > 0 {
					data = append(data, '\n')
				}
				data = append(data, d...)
			case bytes.HasPrefix(l, []byte("event:")):
				name = append(name[:0], bytes.TrimSpace(l[6:])...)
			}
		}
		if err != nil {
			if len(ev) > 0 && !res.clientGone {
				// A last event without its blank line.
				_, _ = w.Write(ev)
			}
			if !res.clientGone {
				_ = rc.Flush()
			}
			if !errors.Is(err, io.EOF) {
				res.aborted = true
			}
			if tail := sr.end(res); len(tail) > 0 && !res.clientGone {
				_, _ = w.Write(tail)
				_ = rc.Flush()
			}
			return
		}
	}
}
