package ratelimit_test

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/services/auth/internal/ratelimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLimiter_AllowsMaxPerWindowPerKey(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	l := ratelimit.New(3, time.Minute, clock)
	for i := range 3 {
		if !l.Allow("a") {
			t.Fatalf("event %d refused", i)
		}
		advance(10 * time.Second)
	}
	if l.Allow("a") {
		t.Fatal("4th event in the window allowed")
	}
	if !l.Allow("b") {
		t.Fatal("another key is limited too")
	}
	advance(31 * time.Second) // the first event leaves the window
	if !l.Allow("a") {
		t.Fatal("sliding window did not slide")
	}
	if l.Allow("a") {
		t.Fatal("allowed beyond max after sliding")
	}
}

func TestLimiter_ConcurrentCallersNeverExceedMax(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(10, time.Hour, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 100 {
		wg.Go(func() {
			if l.Allow("k") {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 10 {
		t.Fatalf("%d allowed, want 10", ok)
	}
}

func TestLimiter_ZeroMaxIsNoLimit(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(0, time.Minute, nil)
	for range 1000 {
		if !l.Allow("k") {
			t.Fatal("refused without a limit")
		}
	}
}
