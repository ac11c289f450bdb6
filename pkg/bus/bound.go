package bus

import "sync"

// Bound tracks the parts of the topology a service binds to (its durable
// consumers, its buckets), for its readiness: Ready once every name it was
// made with has been marked. Marking a name again (a consumer bound anew
// after an error) changes nothing. Safe for concurrent use.
type Bound struct {
	mu   sync.Mutex
	want map[string]bool
	left int
}

// NewBound waits for names.
func NewBound(names ...string) *Bound {
	b := &Bound{want: map[string]bool{}}
	for _, n := range names {
		if !b.want[n] {
			b.want[n] = true
			b.left++
		}
	}
	return b
}

// Mark records that name is bound.
func (b *Bound) Mark(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.want[name] {
		b.want[name] = false
		b.left--
	}
}

// Ready reports whether every name is bound.
func (b *Bound) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left == 0
}
