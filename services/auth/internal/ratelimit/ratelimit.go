// Package ratelimit counts events per key in a sliding window, in memory.
//
// It is per process: with several auth replicas each enforces its own
// limit, so the effective limit is N times the configured one. That bounds
// abuse well enough for sign-in mail; a shared limit would need a store.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows at most Max events per key in any window of length Window.
// It is safe for concurrent use.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	hits  map[string][]time.Time
	calls int
}

// New returns a limiter; now is the clock (time.Now when nil). max ≤ 0
// disables the limit.
func New(max int, window time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{max: max, window: window, now: now, hits: map[string][]time.Time{}}
}

// Allow records an event for key and reports whether it is within the limit.
// A refused event is not counted.
func (l *Limiter) Allow(key string) bool {
	if l.max <= 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%1024 == 0 {
		l.prune(now)
	}
	h := recent(l.hits[key], now.Add(-l.window))
	if len(h) >= l.max {
		l.hits[key] = h
		return false
	}
	l.hits[key] = append(h, now)
	return true
}

// Cancel takes back the latest event recorded for key, for a request that
// Allow let through but another limit refused: a refused request should
// count against no limit.
func (l *Limiter) Cancel(key string) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.hits[key]; len(h) > 0 {
		l.hits[key] = h[:len(h)-1]
	}
}

func recent(h []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(h) && !h[i].After(since) {
		i++
	}
	return h[i:]
}

// prune drops keys with no event in the window, so memory stays bounded by
// the number of keys active in one window.
func (l *Limiter) prune(now time.Time) {
	since := now.Add(-l.window)
	for k, h := range l.hits {
		if h = recent(h, since); len(h) == 0 {
			delete(l.hits, k)
		} else {
			l.hits[k] = h
		}
	}
}
