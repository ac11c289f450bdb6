package catalog

import (
	"cmp"
	"slices"
	"strings"
)

// suggestTarget is one name (id or alias) of a listed model, normalized.
type suggestTarget struct {
	norm  string
	model int
}

// maxSuggestQuery bounds the work an unknown id from a client can cause.
const maxSuggestQuery = 64

// Suggest returns up to n canonical ids of listed models that look like id,
// best first, for "did you mean" errors. A candidate qualifies when one of
// its names starts with id, is a few edits away from it, or shares most of
// its dash-separated words; case, a "<provider>/" prefix and the choice of
// '.', '_' or '-' as separator are ignored. The result may be empty.
func (c *Catalog) Suggest(id string, n int) []string {
	q := normalize(strings.ToLower(id))
	if len(q) > maxSuggestQuery {
		q = q[:maxSuggestQuery]
	}
	if n <= 0 || q == "" {
		return nil
	}
	type rank struct{ class, dist int }
	best := map[int]rank{}
	for _, t := range c.names {
		d := editDistance(q, t.norm)
		var r rank
		switch {
		case len(q) >= 2 && strings.HasPrefix(t.norm, q):
			r = rank{0, d}
		case d <= max(2, len(q)/3):
			r = rank{1, d}
		case len(t.norm) >= 3 && strings.HasPrefix(q, t.norm), sharesMostWords(q, t.norm):
			r = rank{2, d}
		default:
			continue
		}
		if old, ok := best[t.model]; !ok || r.class < old.class || (r.class == old.class && r.dist < old.dist) {
			best[t.model] = r
		}
	}
	found := make([]int, 0, len(best))
	for i := range best {
		found = append(found, i)
	}
	slices.SortFunc(found, func(a, b int) int {
		ra, rb := best[a], best[b]
		return cmp.Or(cmp.Compare(ra.class, rb.class), cmp.Compare(ra.dist, rb.dist),
			cmp.Compare(c.models[a].ID, c.models[b].ID))
	})
	out := make([]string, 0, min(n, len(found)))
	for _, i := range found[:min(n, len(found))] {
		out = append(out, c.models[i].ID)
	}
	return out
}

// normalize drops any "prefix/" and spells every separator as '-', so that
// "openai/gpt-5.2", "gpt_5_2" and "gpt-5-2" compare equal. s is lower case.
func normalize(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '_', ' ':
			return '-'
		}
		return r
	}, s)
}

// sharesMostWords reports whether at least half of q's dash-separated words
// (and at least one) are words of name.
func sharesMostWords(q, name string) bool {
	words := strings.Split(name, "-")
	qw := strings.Split(q, "-")
	shared := 0
	for _, w := range qw {
		if w != "" && slices.Contains(words, w) {
			shared++
		}
	}
	return shared > 0 && 2*shared >= len(qw)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
