// Package channel holds the upstream channels of each provider (base URL,
// key, priority, weight) and decides which to try, in what order, skipping
// channels that failed recently until their cooldown ends.
package channel

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
)

// Channel is one way to reach a provider. Its health is safe for
// concurrent use.
type Channel struct {
	Name     string           `json:"name"`
	Provider catalog.Provider `json:"provider"`
	// BaseURL follows the provider SDK's convention: OpenAI, xAI and Gemini
	// (OpenAI-compatible) include the version path (".../v1",
	// ".../v1beta/openai"); Anthropic's does not ("https://api.anthropic.com").
	BaseURL string `json:"base_url"`
	APIKey  string `json:"-"`
	// Priority: channels with a higher priority are tried first.
	Priority int `json:"priority"`
	// Weight spreads requests among channels of equal priority.
	Weight int `json:"weight"`

	mu        sync.Mutex
	fails     int
	coolUntil time.Time
}

// Cooling reports whether the channel is cooling down at now.
func (c *Channel) Cooling(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Before(c.coolUntil)
}

// Failed puts the channel in cooldown: base, doubling with each failure in
// a row, up to 16 × base.
func (c *Channel) Failed(now time.Time, base time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fails++
	d := base << min(c.fails-1, 4)
	c.coolUntil = now.Add(d)
}

// Succeeded ends the failure streak.
func (c *Channel) Succeeded() {
	c.mu.Lock()
	c.fails = 0
	c.coolUntil = time.Time{}
	c.mu.Unlock()
}

// Set is every channel, by provider. It is immutable after NewSet.
type Set struct {
	by map[catalog.Provider][]*Channel
}

// NewSet groups chs by provider, highest priority first.
func NewSet(chs []*Channel) *Set {
	s := &Set{by: map[catalog.Provider][]*Channel{}}
	for _, c := range chs {
		if c.Weight <= 0 {
			c.Weight = 1
		}
		s.by[c.Provider] = append(s.by[c.Provider], c)
	}
	for _, l := range s.by {
		slices.SortStableFunc(l, func(a, b *Channel) int { return b.Priority - a.Priority })
	}
	return s
}

// Has reports whether provider p has a channel.
func (s *Set) Has(p catalog.Provider) bool { return len(s.by[p]) > 0 }

// All lists every channel.
func (s *Set) All() []*Channel {
	var out []*Channel
	for _, l := range s.by {
		out = append(out, l...)
	}
	return out
}

// Plan returns up to n channels of p to try in order: healthy channels by
// priority (weighted random among equals), then cooling ones (soonest
// first), repeating from the start when there are fewer than n, so that a
// provider with one channel is retried on it.
func (s *Set) Plan(p catalog.Provider, n int, now time.Time) []*Channel {
	all := s.by[p]
	if len(all) == 0 || n <= 0 {
		return nil
	}
	if len(all) == 1 {
		out := make([]*Channel, n)
		for i := range out {
			out[i] = all[0]
		}
		return out
	}
	var healthy, cooling []*Channel
	for _, c := range all {
		if c.Cooling(now) {
			cooling = append(cooling, c)
		} else {
			healthy = append(healthy, c)
		}
	}
	order := make([]*Channel, 0, len(all))
	for i := 0; i < len(healthy); {
		j := i
		for j < len(healthy) && healthy[j].Priority == healthy[i].Priority {
			j++
		}
		order = append(order, weighted(healthy[i:j])...)
		i = j
	}
	slices.SortStableFunc(cooling, func(a, b *Channel) int {
		a.mu.Lock()
		ta := a.coolUntil
		a.mu.Unlock()
		b.mu.Lock()
		tb := b.coolUntil
		b.mu.Unlock()
		return ta.Compare(tb)
	})
	order = append(order, cooling...)
	out := make([]*Channel, 0, n)
	for len(out) < n {
		out = append(out, order[len(out)%len(order)])
	}
	return out
}

// weighted orders a group of equal priority by weighted random sampling
// without replacement.
func weighted(group []*Channel) []*Channel {
	if len(group) == 1 {
		return group
	}
	rest := slices.Clone(group)
	out := make([]*Channel, 0, len(rest))
	for len(rest) > 0 {
		total := 0
		for _, c := range rest {
			total += c.Weight
		}
		r := rand.IntN(total)
		for i, c := range rest {
			if r < c.Weight {
				out = append(out, c)
				rest = slices.Delete(rest, i, i+1)
				break
			}
			r -= c.Weight
		}
	}
	return out
}

// Named returns the channel called name, or nil.
func (s *Set) Named(name string) *Channel {
	for _, l := range s.by {
		for _, c := range l {
			if c.Name == name {
				return c
			}
		}
	}
	return nil
}
