package web

import (
	"sort"
	"time"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// Totals are summed rollups.
type Totals struct {
	Requests, Errors, FreeRequests               int64
	InputTokens, CachedInputTokens, OutputTokens int64
	// Cost is what the requests cost at list price; Charged is what was
	// debited (free requests are charged nothing).
	Cost, Charged money.Micros
}

func (t *Totals) add(r readmodel.Rollup) {
	t.Requests += r.Requests
	t.Errors += r.Errors
	t.FreeRequests += r.FreeRequests
	t.InputTokens += r.InputTokens
	t.CachedInputTokens += r.CachedInputTokens
	t.OutputTokens += r.OutputTokens
	t.Cost += money.Micros(r.CostMicros)
	t.Charged += money.Micros(r.ChargedMicros)
}

// Tokens is all tokens, input and output.
func (t Totals) Tokens() int64 { return t.InputTokens + t.OutputTokens }

// Group is the totals of one day, model, project or key.
type Group struct {
	Key   string // day, model id, project id or key id
	Label string // what a person reads
	Totals
	// Share is this group's part of the largest group's charge, in
	// percent (for bars).
	Share int64
}

// sumBy folds rollups into groups by key(r), largest charge first (ties:
// more requests, then key).
func sumBy(rs []readmodel.Rollup, key func(readmodel.Rollup) string, label func(string) string) []Group {
	idx := map[string]int{}
	var out []Group
	for _, r := range rs {
		k := key(r)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			l := k
			if label != nil {
				l = label(k)
			}
			out = append(out, Group{Key: k, Label: l})
		}
		out[i].add(r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Charged != b.Charged {
			return a.Charged > b.Charged
		}
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		return a.Key < b.Key
	})
	shares(out)
	return out
}

func shares(gs []Group) {
	var top money.Micros
	var topReq int64
	for _, g := range gs {
		top = max(top, g.Charged)
		topReq = max(topReq, g.Requests)
	}
	for i := range gs {
		switch {
		case top > 0:
			gs[i].Share = int64(gs[i].Charged * 100 / top)
		case topReq > 0:
			gs[i].Share = gs[i].Requests * 100 / topReq
		}
	}
}

// byDay returns one group per UTC day from..to (zero days included),
// oldest first.
func byDay(rs []readmodel.Rollup, from, to time.Time) []Group {
	idx := map[string]int{}
	var out []Group
	for d := day(from); !d.After(day(to)); d = d.AddDate(0, 0, 1) {
		k := readmodel.Day(d)
		idx[k] = len(out)
		out = append(out, Group{Key: k, Label: d.Format("Mon 2 Jan")})
	}
	for _, r := range rs {
		if i, ok := idx[r.Day]; ok {
			out[i].add(r)
		}
	}
	shares(out)
	return out
}

func total(rs []readmodel.Rollup, pick func(readmodel.Rollup) bool) Totals {
	var t Totals
	for _, r := range rs {
		if pick == nil || pick(r) {
			t.add(r)
		}
	}
	return t
}

// day is the start of t's UTC day.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
