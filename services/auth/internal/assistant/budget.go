package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// Refusals of the budget. Both are answered politely, never as a failure.
var (
	// ErrRateLimited: the account asked its questions of this hour.
	ErrRateLimited = errors.New("assistant: questions per hour used up")
	// ErrDailyCap: the assistant spent what it may spend today (for every
	// user together).
	ErrDailyCap = errors.New("assistant: daily cost cap reached")
	// ErrNotReady: bucket assistant, where the limits are counted, cannot
	// be reached yet (not declared, or the bus is down); nothing was asked.
	ErrNotReady = errors.New("assistant: not ready")
)

// maxCASAttempts bounds the retries of a revision-checked update that lost
// a race with another replica.
const maxCASAttempts = 50

// budget keeps the per-account hourly question count and the daily spend
// in KV assistant, so that every auth replica shares them. Each change
// reads the counter and writes it back on the revision read
// (jetstream.ErrKeyRevisionMismatch when another replica wrote first: read
// again and retry), so concurrent changes are never lost. Safe for
// concurrent use.
type budget struct {
	kv     *boundKV
	perHr  int
	cap    money.Micros
	nowFor func() time.Time
}

func spendKey(t time.Time) string { return "spend." + t.UTC().Format(time.DateOnly) }

func asksKey(account string, t time.Time) string {
	return "asks." + account + "." + t.UTC().Format("2006010215")
}

// ask counts one question of account in this UTC hour, or refuses with
// ErrRateLimited when the hour's questions are used up.
func (b *budget) ask(ctx context.Context, account string) error {
	_, err := b.add(ctx, asksKey(account, b.nowFor()), 1, int64(b.perHr), ErrRateLimited)
	return err
}

// reserve adds hold to today's spend before a call to the Messages API, or
// refuses with ErrDailyCap when that would take the day beyond the cap:
// the cap holds however many calls run at once on however many replicas.
// It returns the day's key, for settle.
func (b *budget) reserve(ctx context.Context, hold money.Micros) (string, error) {
	key := spendKey(b.nowFor())
	_, err := b.add(ctx, key, int64(hold), int64(b.cap), ErrDailyCap)
	return key, err
}

// settle replaces a hold by the call's cost (the Messages API's usage at
// catalog prices) on the day the hold was taken.
func (b *budget) settle(ctx context.Context, key string, hold, cost money.Micros) error {
	if cost == hold {
		return nil
	}
	_, err := b.add(ctx, key, int64(cost-hold), 0, nil)
	return err
}

// spent is what the assistant has spent today (holds of calls in flight
// included).
func (b *budget) spent(ctx context.Context) (money.Micros, error) {
	n, _, err := b.read(ctx, spendKey(b.nowFor()))
	return money.Micros(n), err
}

func (b *budget) read(ctx context.Context, key string) (int64, uint64, error) {
	kv, err := b.kv.get(ctx)
	if err != nil {
		return 0, 0, err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read kv %s %s: %w", events.BucketAssistant, key, err)
	}
	var v events.AssistantCounterV1
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return 0, 0, fmt.Errorf("decode kv %s %s: %w", events.BucketAssistant, key, err)
	}
	return v.N, e.Revision(), nil
}

// add adds delta to the counter at key and returns the new value. With
// limit > 0 and delta > 0, an addition that would take the counter beyond
// limit is refused with over and nothing changes.
func (b *budget) add(ctx context.Context, key string, delta, limit int64, over error) (int64, error) {
	for attempt := 1; ; attempt++ {
		cur, rev, err := b.read(ctx, key)
		if err != nil {
			return 0, err
		}
		next := cur + delta
		if limit > 0 && delta > 0 && next > limit {
			return cur, over
		}
		raw, _ := json.Marshal(events.AssistantCounterV1{V: 1, N: max(next, 0)})
		// Update on revision 0 creates the key only if it does not exist.
		kv, err := b.kv.get(ctx)
		if err != nil {
			return 0, err
		}
		_, err = kv.Update(ctx, key, raw, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) && attempt < maxCASAttempts {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("update kv %s %s: %w", events.BucketAssistant, key, err)
		}
		return next, nil
	}
}

// boundKV is bucket assistant, bound on first use: auth starts (and the
// rest of it serves) before the admin has declared the bucket; until it
// exists each question is refused with ErrNotReady. Safe for concurrent
// use.
type boundKV struct {
	open func(context.Context) (jetstream.KeyValue, error)
	mu   sync.Mutex
	kv   jetstream.KeyValue
}

func (b *boundKV) get(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, nil
	}
	kv, err := b.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: bind kv %s: %w", ErrNotReady, events.BucketAssistant, err)
	}
	b.kv = kv
	return kv, nil
}
