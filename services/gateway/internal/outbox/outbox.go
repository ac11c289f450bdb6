// Package outbox delivers the gateway's usage events to JetStream off the
// request path. Events are published asynchronously; one whose ack fails or
// does not come within the ack timeout (the bus is down, slow, or the
// connection was lost) is appended to a bounded spill directory on disk and
// published again from there once the bus answers. The event id travels as
// Nats-Msg-Id, so an event sent twice (once before the outage, once from
// disk) is stored once by JetStream's duplicate window.
//
// What is guaranteed: an event handed to Add is on the bus, in the
// in-memory queue, or on disk, until it is acked. What is not: events in
// the in-memory queue (at most QueueSize, normally a few milliseconds'
// worth) are lost if the process is killed; a clean shutdown spills them.
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
	Publish(ctx context.Context, ev events.Event) (bus.PublishResult, error)
}

// Config bounds the outbox.
type Config struct {
	// Dir holds the spill files. Required.
	Dir string
	// MaxBytes bounds the spill files; beyond it Full reports true (the
	// gateway then refuses new requests rather than serve them unbilled).
	// Default 64 MiB.
	MaxBytes int64
	// AckTimeout is how long an async publish may wait for its ack before
	// the event is spilled. Default 5s.
	AckTimeout time.Duration
	// QueueSize bounds the in-memory queue; beyond it events go straight
	// to disk. Default 8192.
	QueueSize int
	Logger    *slog.Logger
}

// Outbox is safe for concurrent use.
type Outbox struct {
	pub  Publisher
	cfg  Config
	log  *slog.Logger
	q    chan events.UsageRecordedV1
	acks chan inflight

	mu       sync.Mutex // guards the current spill segment
	seg      *os.File
	segPath  string
	segBytes int64
	nextSeg  int

	disk    atomic.Int64 // bytes in spill files
	stopped atomic.Bool
	wake    chan struct{}
}

type inflight struct {
	ev       events.UsageRecordedV1
	f        jetstream.PubAckFuture
	deadline time.Time
}

// New opens (or creates) the spill directory and counts what an earlier run
// left in it; Run publishes it.
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
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: create %s: %w", cfg.Dir, err)
	}
	o := &Outbox{
		pub: pub, cfg: cfg, log: log,
		q:    make(chan events.UsageRecordedV1, cfg.QueueSize),
		acks: make(chan inflight, cfg.QueueSize),
		wake: make(chan struct{}, 1),
	}
	segs, err := o.segments()
	if err != nil {
		return nil, err
	}
	for _, s := range segs {
		if fi, err := os.Stat(s.path); err == nil {
			o.disk.Add(fi.Size())
		}
		o.nextSeg = max(o.nextSeg, s.n+1)
	}
	return o, nil
}

// Full reports whether the spill files have reached MaxBytes.
func (o *Outbox) Full() bool { return o.disk.Load() >= o.cfg.MaxBytes }

// Spilled is the number of bytes waiting on disk.
func (o *Outbox) Spilled() int64 { return o.disk.Load() }

// Add hands ev to the outbox. It never blocks on the bus; it fails only if
// the event can be neither queued nor written to disk.
func (o *Outbox) Add(ev events.UsageRecordedV1) error {
	if !o.stopped.Load() {
		select {
		case o.q <- ev:
			return nil
		default:
		}
	}
	return o.spill(ev)
}

// Run publishes queued and spilled events until ctx ends. Then it stops
// taking from the queue, waits (up to the ack timeout) for the acks in
// flight, spills whatever is left, and returns nil.
func (o *Outbox) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { o.ack() })
	wg.Go(func() { o.drain(ctx) })
	o.send(ctx)
	o.stopped.Store(true)
	close(o.acks)
	wg.Wait()
	// Late Adds raced with the stop: they are in the queue; spill them.
	for {
		select {
		case ev := <-o.q:
			if err := o.spill(ev); err != nil {
				o.log.Error("outbox: spill on shutdown", "id", ev.ID, "err", err)
			}
		default:
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.seg != nil {
				_ = o.seg.Sync()
				_ = o.seg.Close()
				o.seg = nil
			}
			return nil
		}
	}
}

func (o *Outbox) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-o.q:
			f, err := o.pub.PublishAsync(context.WithoutCancel(ctx), ev)
			if err != nil {
				o.spillOrLog(ev, err)
				continue
			}
			o.acks <- inflight{ev: ev, f: f, deadline: time.Now().Add(o.cfg.AckTimeout)}
		}
	}
}

func (o *Outbox) ack() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for it := range o.acks {
		t.Reset(max(time.Until(it.deadline), 0))
		select {
		case <-it.f.Ok():
		case err := <-it.f.Err():
			o.spillOrLog(it.ev, err)
		case <-t.C:
			o.spillOrLog(it.ev, errors.New("ack timeout"))
		}
	}
}

func (o *Outbox) spillOrLog(ev events.UsageRecordedV1, cause error) {
	if err := o.spill(ev); err != nil {
		o.log.Error("outbox: usage event lost: publish failed and spill failed", "id", ev.ID, "publish_err", cause, "err", err)
		return
	}
	o.log.Debug("outbox: spilled usage event", "id", ev.ID, "cause", cause)
}

// spill appends ev to the current segment.
func (o *Outbox) spill(ev events.UsageRecordedV1) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", ev.ID, err)
	}
	line = append(line, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seg == nil {
		o.segPath = filepath.Join(o.cfg.Dir, fmt.Sprintf("usage-%09d.jsonl", o.nextSeg))
		o.nextSeg++
		f, err := os.OpenFile(o.segPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("outbox: open segment: %w", err)
		}
		o.seg, o.segBytes = f, 0
	}
	n, err := o.seg.Write(line)
	o.segBytes += int64(n)
	o.disk.Add(int64(n))
	if err != nil {
		return fmt.Errorf("outbox: write segment: %w", err)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

type segment struct {
	path string
	n    int
}

func (o *Outbox) segments() ([]segment, error) {
	ents, err := os.ReadDir(o.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: list %s: %w", o.cfg.Dir, err)
	}
	var out []segment
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
		out = append(out, segment{path: filepath.Join(o.cfg.Dir, name), n: n})
	}
	slices.SortFunc(out, func(a, b segment) int { return a.n - b.n })
	return out, nil
}

// drain republishes spilled segments, oldest first, until ctx ends.
func (o *Outbox) drain(ctx context.Context) {
	backoff := 250 * time.Millisecond
	for {
		if o.disk.Load() > 0 {
			if err := o.drainOnce(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				o.log.Warn("outbox: bus still unavailable; will retry", "spilled_bytes", o.disk.Load(), "err", err)
				backoff = min(backoff*2, 5*time.Second)
			} else {
				backoff = 250 * time.Millisecond
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
			// A fresh spill: wait a little so a burst lands in one segment.
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		case <-time.After(backoff):
		}
	}
}

func (o *Outbox) drainOnce(ctx context.Context) error {
	// Seal the current segment so it can be published and removed.
	// Segments opened after this point are left for the next round: a
	// spill may be appending to them.
	o.mu.Lock()
	if o.seg != nil {
		_ = o.seg.Close()
		o.seg = nil
	}
	sealed := o.nextSeg
	o.mu.Unlock()
	segs, err := o.segments()
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s.n >= sealed {
			break
		}
		if err := o.publishSegment(ctx, s.path); err != nil {
			return err
		}
	}
	return nil
}

func (o *Outbox) publishSegment(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("outbox: open %s: %w", path, err)
	}
	fi, _ := f.Stat()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var futures []inflight
	for sc.Scan() {
		var ev events.UsageRecordedV1
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			// A torn last line from a crash: nothing to publish.
			o.log.Error("outbox: skipping an undecodable spilled line", "file", filepath.Base(path))
			continue
		}
		fu, err := o.pub.PublishAsync(ctx, ev)
		if err != nil {
			f.Close()
			return err
		}
		futures = append(futures, inflight{ev: ev, f: fu})
	}
	f.Close()
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
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("outbox: remove %s: %w", path, err)
	}
	if fi != nil {
		o.disk.Add(-fi.Size())
	}
	return nil
}
