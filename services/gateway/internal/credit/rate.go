package credit

import (
	"sync"
	"time"
)

// Limiter enforces per-key requests per minute with GCRA (a leaky bucket
// that allows the whole minute's quota as a burst). Safe for concurrent use.
type Limiter struct {
	now func() time.Time
	mu  sync.Mutex
	tat map[string]time.Time // theoretical arrival time per key
}

// NewLimiter returns an empty limiter.
func NewLimiter(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, tat: map[string]time.Time{}}
}

// Allow takes one request of keyID under rpm (0 or less: unlimited). When
// refused it says how long until a request would be allowed.
func (l *Limiter) Allow(keyID string, rpm int) (bool, time.Duration) {
	if rpm <= 0 {
		return true, 0
	}
	interval := time.Minute / time.Duration(rpm)
	tolerance := time.Minute - interval
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[keyID]
	if !ok || tat.Before(now) {
		tat = now
	}
	if wait := tat.Sub(now) - tolerance; wait > 0 {
		return false, wait
	}
	l.tat[keyID] = tat.Add(interval)
	if len(l.tat) > 100_000 {
		for k, t := range l.tat {
			if t.Before(now) {
				delete(l.tat, k)
			}
		}
	}
	return true, 0
}
