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

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/channel"
	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
	"github.com/onekey-oss/onekey/services/gateway/internal/usage"
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
	var check func()
	check = func() {
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
func (s *Service) relay(w http.ResponseWriter, o op, m catalog.Model, ch *channel.Channel, resp *http.Response, strip bool, cancel context.CancelFunc) result {
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
		s.relayError(w, o, resp, idle, &res)
		return res
	}
	start := time.Now()
	if sse {
		h.Del("Content-Length")
		h["X-Accel-Buffering"] = []string{"no"}
		w.WriteHeader(resp.StatusCode)
		s.relaySSE(w, o, resp.Body, strip, idle, &res, start)
		return res
	}
	if resp.ContentLength >= 0 {
		h["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
	}
	w.WriteHeader(resp.StatusCode)
	s.relayBody(w, o, resp.Body, idle, &res, start)
	return res
}

func (s *Service) relayBody(w http.ResponseWriter, o op, body io.Reader, idle *idleWatch, res *result, start time.Time) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	var capture []byte
	overflow := false
	for {
		n, err := body.Read(buf)
		if n > 0 {
			idle.touch()
			if res.ttfb == 0 {
				res.ttfb = time.Since(start)
			}
			if !res.clientGone {
				if _, werr := w.Write(buf[:n]); werr != nil {
					res.clientGone = true
				}
			}
			res.chunks++
			capture = append(capture, buf[:n]...)
			if len(capture) > captureLimit {
				overflow = true
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
	if res.status/100 != 2 {
		return
	}
	if overflow {
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
		capture = append(append([]byte(`{"usage":`), raw...), '}')
	}
	s.readUsage(o, capture, res)
}

// readUsage reads a whole JSON response's top-level usage.
func (s *Service) readUsage(o op, doc []byte, res *result) {
	if o.anthropicFormat() {
		var u usage.Anthropic
		if ok, err := usage.TopLevel(doc, &u); err == nil && ok && u.Seen() {
			res.usage, res.haveUsage = u.Usage(), true
		}
		return
	}
	var u usage.OpenAI
	if ok, err := usage.TopLevel(doc, &u); err == nil && ok {
		res.usage, res.haveUsage = u.Usage(), true
		res.usage.ServiceTier = usage.ServiceTier(doc)
	}
}

// relaySSE relays a server-sent event stream event by event, flushing each,
// reading usage from the events that carry it and, when strip is set,
// removing the usage the gateway asked for but the client did not.
func (s *Service) relaySSE(w http.ResponseWriter, o op, body io.Reader, strip bool, idle *idleWatch, res *result, start time.Time) {
	res.streamed = true
	rc := http.NewResponseController(w)
	br := sseReaders.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() { br.Reset(nil); sseReaders.Put(br) }()
	var ev []byte   // the raw event being assembled, lines included
	var name []byte // its "event:" name
	var data []byte // its "data:" payload
	var line []byte // a line longer than the reader's buffer
	var anth usage.Anthropic
	var sawDone bool
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
				out := s.sseEvent(o, ev, name, data, strip, res, &anth, &sawDone)
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
			if !errors.Is(err, io.EOF) || (!sawDone && !o.anthropicFormat() && !res.haveUsage) {
				res.aborted = true
			}
			s.finishAnthropic(o, anth, res)
			return
		}
	}
}

func (s *Service) finishAnthropic(o op, anth usage.Anthropic, res *result) {
	if !o.anthropicFormat() || !anth.Seen() {
		return
	}
	u := res.toolUses.floor(anth.Usage())
	if res.aborted {
		// message_start's output count is from the stream's start: the
		// content deltas seen since are a better floor.
		u.OutputTokens = max(u.OutputTokens, res.chunks)
		res.partial = &u
		return
	}
	res.usage, res.haveUsage = u, true
}

var usageNull = []byte(`,"usage":null}`)

// sseEvent inspects one complete event and returns the bytes to send on
// (nil to drop it).
func (s *Service) sseEvent(o op, ev, name, data []byte, strip bool, res *result, anth *usage.Anthropic, sawDone *bool) []byte {
	if o.anthropicFormat() {
		if len(name) == 0 {
			// Every Anthropic event names itself in an "event:" line; be
			// lenient with a relay that drops them.
			for _, t := range []string{"message_start", "message_delta", "content_block_delta"} {
				if bytes.Contains(data, []byte(`"type":"`+t+`"`)) {
					name = []byte(t)
					break
				}
			}
		}
		switch string(name) {
		case "message_start":
			var v struct {
				Message struct {
					Usage usage.Anthropic `json:"usage"`
				} `json:"message"`
			}
			if json.Unmarshal(data, &v) == nil {
				anth.Merge(v.Message.Usage)
			}
		case "message_delta":
			var v struct {
				Usage usage.Anthropic `json:"usage"`
			}
			if json.Unmarshal(data, &v) == nil {
				anth.Merge(v.Usage)
			}
		case "content_block_delta":
			res.chunks++
		case "content_block_start":
			res.toolUses.count(data)
		}
		return ev
	}
	if len(data) == 0 {
		return ev
	}
	if bytes.Equal(data, []byte("[DONE]")) {
		*sawDone = true
		return ev
	}
	res.chunks++
	if !usage.HasObject(data) {
		// With include_usage on, OpenAI adds "usage":null to every chunk;
		// a client that did not ask for usage does not get it.
		if strip && bytes.HasSuffix(data, usageNull) {
			out := make([]byte, 0, len(data)+8)
			out = append(out, "data: "...)
			out = append(out, data[:len(data)-len(usageNull)]...)
			return append(out, "}\n\n"...)
		}
		return ev
	}
	var u usage.OpenAI
	if ok, err := usage.TopLevel(data, &u); err != nil || !ok {
		return ev
	}
	res.usage, res.haveUsage = u.Usage(), true
	res.usage.ServiceTier = usage.ServiceTier(data)
	res.chunks--
	if !strip {
		return ev
	}
	// The client did not ask for usage: drop a usage-only chunk, or cut the
	// usage member out of a chunk that also carries choices (Gemini).
	var choicesEmpty, found bool
	var us, ue int
	_ = jsonscan.Fields(data, func(f jsonscan.Field) error {
		switch f.Key {
		case "choices":
			v := bytes.TrimSpace(data[f.ValueStart:f.ValueEnd])
			choicesEmpty = len(v) <= 2 || bytes.Equal(bytes.ReplaceAll(v, []byte(" "), nil), []byte("[]"))
		case "usage":
			us, ue, found = f.MemberStart, f.ValueEnd, true
		}
		return nil
	})
	if choicesEmpty || !found {
		return nil
	}
	trimmed := jsonscan.RemoveMember(data, us, ue)
	out := make([]byte, 0, len(trimmed)+8)
	out = append(out, "data: "...)
	out = append(out, trimmed...)
	return append(out, "\n\n"...)
}
