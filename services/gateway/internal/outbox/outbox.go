// Package outbox delivers the gateway's usage events to JetStream off the
// request path, without losing one to a crash or a bus outage.
//
// Add first appends the event to a segment file on disk (one write, no
// fsync), then queues it for an asynchronous publish. A segment is deleted
// once it is closed (rotated by size or after a second without traffic)
// and every event in it has been acknowledged by JetStream. An event whose
// publish fails or is not acknowledged within the ack timeout (the bus is
// down, slow, or the connection was lost) marks its segment for
// republishing: once that segment has no publish in flight, it is
// published again from disk, whole, until the bus takes it. Segments found
// at start (left by a run that stopped or crashed) are published again the
// same way.
//
// The event id travels as Nats-Msg-Id, so an event sent twice (live, then
// from disk) is stored once within JetStream's duplicate window, and the
// ledger applies an event id once in any case.
//
// What is guaranteed: an event handed to Add without an error is on disk
// before Add returns, and stays there until the bus has acknowledged it, so
// a crash of the process (kill -9, OOM, panic) loses none. An OS crash or
// power loss may lose the last events written (there is no fsync per
// event; a clean shutdown syncs).
package outbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
)

// Publisher is what the outbox needs of the bus (pkg/bus.Bus).
type Publisher interface {
	PublishAsync(ctx context.Context, ev events.Event) (jetstream.PubAckFuture, error)
	PublishEncodedAsync(ctx context.Context, subject, id string, data []byte) (jetstream.PubAckFuture, error)
	Publish(ctx context.Context, ev events.Event) (bus.PublishResult, error)
}

// Config bounds the outbox.
type Config struct {
	// Dir holds the segment files. Required.
	Dir string
	// MaxBytes bounds the segment files; beyond it Full reports true (the
	// gateway then refuses new requests rather than serve them unbilled).
	// Default 64 MiB.
	MaxBytes int64
	// AckTimeout is how long an async publish may wait for its ack before
	// the event is left to be republished from disk. Default 5s.
	AckTimeout time.Duration
	// QueueSize bounds the in-memory publish queue; beyond it events are
	// published from disk only. Default 8192.
	QueueSize int
	// SegmentBytes is the size at which a segment is closed and a new one
	// started. Default 1 MiB.
	SegmentBytes int64
	Logger       *slog.Logger
}

// idleSeal is how long a segment whose events are all acknowledged stays
// open without a new event before it is closed and deleted.
const idleSeal = time.Second

// Outbox is safe for concurrent use.
type Outbox struct {
	pub  Publisher
	cfg  Config
	log  *slog.Logger
	q    chan queued
	acks chan inflight

	mu        sync.Mutex // guards segs, active, nextSeg and every segment's fields
	segs      map[int]*segment
	active    *segment
	nextSeg   int
	lastWrite time.Time

	disk    atomic.Int64 // bytes in segment files
	spilled atomic.Int64 // bytes of events waiting to be republished from disk
	stopped atomic.Bool
	wake    chan struct{}
}

// segment is one file of events.
type segment struct {
	n       int
	path    string
	f       *os.File // the active segment's, nil once closed
	size    int64
	pending int  // events queued or in flight from it
	sealed  bool // closed: no more events go into it
	failed  bool // an event of it was not acknowledged: republish it whole
}

type queued struct {
	ev   events.UsageRecordedV1
	line []byte   // ev as JSON, with a trailing newline
	seg  *segment // nil if the event could not be written to disk
	n    int64
}

type inflight struct {
	queued
	f        jetstream.PubAckFuture
	deadline time.Time
}

// New opens (or creates) the directory; segments an earlier run left in it
// are published again by Run.
func New(pub Publisher, cfg Config) (*Outbox, error) {
	if cfg.Dir == "" {
		return nil, errors.New("outbox: Dir is required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = 1 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: create %s: %w", cfg.Dir, err)
	}
	o := &Outbox{
		pub: pub, cfg: cfg, log: log,
		q:    make(chan queued, cfg.QueueSize),
		acks: make(chan inflight, cfg.QueueSize),
		segs: map[int]*segment{},
		wake: make(chan struct{}, 1),
	}
	found, err := o.list()
	if err != nil {
		return nil, err
	}
	for _, s := range found {
		fi, err := os.Stat(s.path)
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		s.size, s.sealed, s.failed = fi.Size(), true, true
		o.segs[s.n] = s
		o.disk.Add(s.size)
		o.spilled.Add(s.size)
		o.nextSeg = max(o.nextSeg, s.n+1)
	}
	return o, nil
}

// Full reports whether the segment files have reached MaxBytes.
func (o *Outbox) Full() bool { return o.disk.Load() >= o.cfg.MaxBytes }

// Spilled is the number of bytes of events waiting on disk to be published
// again (their live publish failed, or an earlier run left them).
func (o *Outbox) Spilled() int64 { return o.spilled.Load() }

// Add writes ev to disk and queues it for publishing. It never blocks on
// the bus. An error means ev could not be written to disk; it is still
// published if the bus takes it.
func (o *Outbox) Add(ev events.UsageRecordedV1) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", ev.ID, err)
	}
	line = append(line, '\n')
	seg, werr := o.write(line)
	it := queued{ev: ev, line: line, seg: seg, n: int64(len(line))}
	if !o.stopped.Load() {
		select {
		case o.q <- it:
			return werr
		default:
		}
	}
	// Not queued: the event waits on disk for the republisher.
	o.failed(it)
	if werr != nil {
		o.log.Error("outbox: usage event lost: queue full and not written to disk", "id", ev.ID, "err", werr)
	}
	return werr
}

// write appends line to the active segment, opening one if needed, and
// counts the event as pending there.
func (o *Outbox) write(line []byte) (*segment, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.active == nil {
		s := &segment{n: o.nextSeg, path: filepath.Join(o.cfg.Dir, fmt.Sprintf("usage-%09d.jsonl", o.nextSeg))}
		f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("outbox: open segment: %w", err)
		}
		o.nextSeg++
		s.f = f
		o.segs[s.n] = s
		o.active = s
	}
	s := o.active
	n, err := s.f.Write(line)
	s.size += int64(n)
	o.disk.Add(int64(n))
	o.lastWrite = time.Now()
	if err != nil {
		// A torn line is skipped when the segment is read back.
		o.sealLocked(s)
		return nil, fmt.Errorf("outbox: write segment: %w", err)
	}
	s.pending++
	if s.size >= o.cfg.SegmentBytes {
		o.sealLocked(s)
	}
	return s, nil
}

// sealLocked closes s to new events.
func (o *Outbox) sealLocked(s *segment) {
	if s.sealed {
		return
	}
	s.sealed = true
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	if o.active == s {
		o.active = nil
	}
	o.releaseLocked(s)
}

// releaseLocked deletes s once it is sealed and every event in it is
// acknowledged, or wakes the republisher if one was not.
func (o *Outbox) releaseLocked(s *segment) {
	if !s.sealed || s.pending > 0 {
		return
	}
	if s.failed {
		select {
		case o.wake <- struct{}{}:
		default:
		}
		return
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		// Left on disk: the next start publishes it again (duplicates
		// are dropped by their ids).
		o.log.Warn("outbox: remove an acknowledged segment", "file", filepath.Base(s.path), "err", err)
		return
	}
	o.disk.Add(-s.size)
	delete(o.segs, s.n)
}

// acked records that the bus has it.
func (o *Outbox) acked(it queued) {
	if it.seg == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	it.seg.pending--
	o.releaseLocked(it.seg)
}

// failed records that the bus did not take it live: its segment is closed
// and, once nothing of it is in flight, published again from disk.
func (o *Outbox) failed(it queued) {
	if it.seg == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	s := it.seg
	s.pending--
	if !s.failed {
		s.failed = true
		o.spilled.Add(s.size)
	}
	o.sealLocked(s)
	o.releaseLocked(s)
}

// Run publishes queued events and republishes segments until ctx ends.
// Then it publishes what is still queued, waits (up to the ack timeout) for
// the acks in flight, closes the active segment (synced), and returns nil.
// Whatever is not acknowledged by then stays on disk for the next start.
func (o *Outbox) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { o.ack() })
	wg.Go(func() { o.drain(ctx) })
	o.send(ctx)
	o.stopped.Store(true)
	// What was queued before the stop still goes out live.
	for flushed := false; !flushed; {
		select {
		case it := <-o.q:
			o.publish(context.WithoutCancel(ctx), it)
		default:
			flushed = true
		}
	}
	close(o.acks)
	wg.Wait()
	// An Add racing with the stop may have queued after the flush: its
	// event is on disk, for the next start.
	for drained := false; !drained; {
		select {
		case it := <-o.q:
			o.failed(it)
		default:
			drained = true
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s := o.active; s != nil {
		if s.f != nil {
			_ = s.f.Sync()
		}
		o.sealLocked(s)
	}
	return nil
}

func (o *Outbox) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-o.q:
			o.publish(context.WithoutCancel(ctx), it)
		}
	}
}

func (o *Outbox) publish(ctx context.Context, it queued) {
	subject, err := it.ev.EventSubject()
	var f jetstream.PubAckFuture
	if err == nil {
		// The bytes written to disk, without their newline: encoded once.
		f, err = o.pub.PublishEncodedAsync(ctx, subject, it.ev.ID, it.line[:len(it.line)-1])
	}
	if err != nil {
		o.log.Debug("outbox: publish failed; the event waits on disk", "id", it.ev.ID, "err", err)
		o.failed(it)
		return
	}
	o.acks <- inflight{queued: it, f: f, deadline: time.Now().Add(o.cfg.AckTimeout)}
}

func (o *Outbox) ack() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for it := range o.acks {
		t.Reset(max(time.Until(it.deadline), 0))
		select {
		case <-it.f.Ok():
			o.acked(it.queued)
		case err := <-it.f.Err():
			o.log.Debug("outbox: publish failed; the event waits on disk", "id", it.ev.ID, "err", err)
			o.failed(it.queued)
		case <-t.C:
			o.log.Debug("outbox: no ack in time; the event waits on disk", "id", it.ev.ID)
			o.failed(it.queued)
		}
	}
}

// list returns the segment files in the directory, oldest first.
func (o *Outbox) list() ([]*segment, error) {
	ents, err := os.ReadDir(o.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: list %s: %w", o.cfg.Dir, err)
	}
	var out []*segment
	for _, e := range ents {
		name := e.Name()
		num, ok := strings.CutPrefix(name, "usage-")
		if !ok || !strings.HasSuffix(num, ".jsonl") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(num, ".jsonl"))
		if err != nil {
			continue
		}
		out = append(out, &segment{path: filepath.Join(o.cfg.Dir, name), n: n})
	}
	slices.SortFunc(out, func(a, b *segment) int { return a.n - b.n })
	return out, nil
}

// drain republishes failed segments, oldest first, and closes an idle
// active segment, until ctx ends.
func (o *Outbox) drain(ctx context.Context) {
	backoff := 250 * time.Millisecond
	for {
		o.sealIdle()
		if err := o.republish(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			o.log.Warn("outbox: bus still unavailable; will retry", "spilled_bytes", o.spilled.Load(), "err", err)
			backoff = min(backoff*2, 5*time.Second)
		} else {
			backoff = 250 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
			// Wait a little so that a burst of failures is republished
			// in one round.
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		case <-time.After(backoff):
		}
	}
}

// sealIdle closes the active segment when it has had no new event for
// idleSeal and nothing of it is in flight, so that it is deleted.
func (o *Outbox) sealIdle() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s := o.active; s != nil && s.pending == 0 && time.Since(o.lastWrite) >= idleSeal {
		o.sealLocked(s)
	}
}

// republish publishes every failed segment that has nothing in flight.
func (o *Outbox) republish(ctx context.Context) error {
	o.mu.Lock()
	var ready []*segment
	for _, s := range o.segs {
		if s.sealed && s.failed && s.pending == 0 {
			ready = append(ready, s)
		}
	}
	o.mu.Unlock()
	slices.SortFunc(ready, func(a, b *segment) int { return a.n - b.n })
	for _, s := range ready {
		if err := o.publishSegment(ctx, s.path); err != nil {
			return err
		}
		o.mu.Lock()
		err := os.Remove(s.path)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			o.disk.Add(-s.size)
			o.spilled.Add(-s.size)
			delete(o.segs, s.n)
		}
		o.mu.Unlock()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("outbox: remove %s: %w", s.path, err)
		}
	}
	return nil
}

func (o *Outbox) publishSegment(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("outbox: open %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var futures []inflight
	for sc.Scan() {
		var ev events.UsageRecordedV1
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			// A torn last line from a crash: nothing to publish.
			o.log.Error("outbox: skipping an undecodable line", "file", filepath.Base(path))
			continue
		}
		fu, err := o.pub.PublishAsync(ctx, ev)
		if err != nil {
			return err
		}
		futures = append(futures, inflight{queued: queued{ev: ev}, f: fu})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("outbox: read %s: %w", path, err)
	}
	deadline := time.NewTimer(o.cfg.AckTimeout)
	defer deadline.Stop()
	for _, it := range futures {
		select {
		case <-it.f.Ok():
		case err := <-it.f.Err():
			return fmt.Errorf("outbox: republish %s: %w", it.ev.ID, err)
		case <-deadline.C:
			return errors.New("outbox: republish: ack timeout")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
