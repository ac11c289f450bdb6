package responses

import (
	"strings"

	"github.com/onekey-oss/onekey/api/catalog"
)

// builder assembles a response's output items and writes the stream events
// that announce them, in the Responses API's order: response.created,
// response.in_progress, then per item output_item.added, its parts and
// deltas, output_item.done, and last response.completed (or .incomplete,
// .failed) with the whole response and its usage. A non-streamed answer is
// built by the same calls, its events unused, so both agree.
type builder struct {
	t      *Translation
	em     emitter
	resp   *Response
	items  []any
	closed bool
}

func newBuilder(t *Translation) *builder {
	return &builder{t: t, resp: t.skeleton("in_progress")}
}

// start announces the response.
func (b *builder) start() {
	b.em.emit("response.created", responseEvent{b.resp})
	b.em.emit("response.in_progress", responseEvent{b.resp})
}

// textItem is an open message item with one part: output_text or refusal.
type textItem struct {
	idx     int
	id      string
	refusal bool
	text    strings.Builder
}

func (b *builder) openText(refusal bool) *textItem {
	it := &textItem{idx: len(b.items), id: b.t.newItemID("msg"), refusal: refusal}
	b.items = append(b.items, messageItem{Type: "message", ID: it.id, Status: "in_progress", Role: "assistant", Content: []outputPart{}})
	b.em.emit("response.output_item.added", itemEvent{it.idx, b.items[it.idx]})
	empty := textPart("")
	if refusal {
		empty = refusalPart("")
	}
	b.em.emit("response.content_part.added", partEvent{it.id, it.idx, 0, empty})
	return it
}

func (b *builder) textDelta(it *textItem, s string) {
	if s == "" {
		return
	}
	it.text.WriteString(s)
	if it.refusal {
		b.em.emit("response.refusal.delta", refusalDeltaEvent{it.id, it.idx, 0, s})
		return
	}
	b.em.emit("response.output_text.delta", textDeltaEvent{it.id, it.idx, 0, s, []any{}})
}

func (b *builder) closeText(it *textItem) {
	s := it.text.String()
	p := textPart(s)
	if it.refusal {
		p = refusalPart(s)
		b.em.emit("response.refusal.done", refusalDoneEvent{it.id, it.idx, 0, s})
	} else {
		b.em.emit("response.output_text.done", textDoneEvent{it.id, it.idx, 0, s, []any{}})
	}
	b.em.emit("response.content_part.done", partEvent{it.id, it.idx, 0, p})
	b.items[it.idx] = messageItem{Type: "message", ID: it.id, Status: "completed", Role: "assistant", Content: []outputPart{p}}
	b.em.emit("response.output_item.done", itemEvent{it.idx, b.items[it.idx]})
}

// callItem is an open function_call item.
type callItem struct {
	idx          int
	id           string
	callID, name string
	args         strings.Builder
}

func (b *builder) openCall(callID, name string) *callItem {
	c := &callItem{idx: len(b.items), id: b.t.newItemID("fc"), callID: callID, name: name}
	b.items = append(b.items, functionCallItem{Type: "function_call", ID: c.id, Status: "in_progress", CallID: callID, Name: name})
	b.em.emit("response.output_item.added", itemEvent{c.idx, b.items[c.idx]})
	return c
}

func (b *builder) argsDelta(c *callItem, s string) {
	if s == "" {
		return
	}
	c.args.WriteString(s)
	b.em.emit("response.function_call_arguments.delta", argsDeltaEvent{c.id, c.idx, s})
}

func (b *builder) closeCall(c *callItem) {
	args := c.args.String()
	if strings.TrimSpace(args) == "" {
		args = "{}"
	}
	b.em.emit("response.function_call_arguments.done", argsDoneEvent{c.id, c.idx, c.name, args})
	b.items[c.idx] = functionCallItem{Type: "function_call", ID: c.id, Status: "completed", CallID: c.callID, Name: c.name, Arguments: args}
	b.em.emit("response.output_item.done", itemEvent{c.idx, b.items[c.idx]})
}

// reasoningItem is an open reasoning item (Anthropic's thinking).
type thinkItem struct {
	idx      int
	id       string
	text     strings.Builder
	sig      string
	redacted bool
}

func (b *builder) openReasoning(redacted bool) *thinkItem {
	r := &thinkItem{idx: len(b.items), id: b.t.newItemID("rs"), redacted: redacted}
	b.items = append(b.items, reasoningItem{Type: "reasoning", ID: r.id, Summary: []summaryPart{}})
	b.em.emit("response.output_item.added", itemEvent{r.idx, b.items[r.idx]})
	if !redacted {
		b.em.emit("response.reasoning_summary_part.added", summaryPartEvent{r.id, r.idx, 0, summaryPart{"summary_text", ""}})
	}
	return r
}

func (b *builder) reasoningDelta(r *thinkItem, s string) {
	if s == "" {
		return
	}
	r.text.WriteString(s)
	b.em.emit("response.reasoning_summary_text.delta", summaryDeltaEvent{r.id, r.idx, 0, s})
}

func (b *builder) closeReasoning(r *thinkItem) {
	item := reasoningItem{Type: "reasoning", ID: r.id, Summary: []summaryPart{}}
	if !r.redacted {
		s := r.text.String()
		b.em.emit("response.reasoning_summary_text.done", summaryDoneEvent{r.id, r.idx, 0, s})
		b.em.emit("response.reasoning_summary_part.done", summaryPartEvent{r.id, r.idx, 0, summaryPart{"summary_text", s}})
		item.Summary = []summaryPart{{"summary_text", s}}
	}
	if r.sig != "" {
		enc := r.sig
		if r.redacted {
			enc = redactedPrefix + enc
		}
		item.EncryptedContent = &enc
	}
	b.items[r.idx] = item
	b.em.emit("response.output_item.done", itemEvent{r.idx, item})
}

// finish ends the response: status "completed", or "incomplete" with a
// reason (max_output_tokens, content_filter).
func (b *builder) finish(incomplete string, u catalog.Usage) {
	if b.closed {
		return
	}
	b.closed = true
	b.resp.Output = b.items
	if b.resp.Output == nil {
		b.resp.Output = []any{}
	}
	b.resp.Usage = b.t.finalUsage(u)
	if incomplete != "" {
		b.resp.Status = "incomplete"
		b.resp.IncompleteDetails = &Incomplete{Reason: incomplete}
		b.em.emit("response.incomplete", responseEvent{b.resp})
		return
	}
	b.resp.Status = "completed"
	b.em.emit("response.completed", responseEvent{b.resp})
}

// fail ends the response as failed (the upstream's stream broke off or
// reported an error), with the usage known so far.
func (b *builder) fail(code, msg string, u *catalog.Usage) {
	if b.closed {
		return
	}
	b.closed = true
	b.resp.Output = b.items
	if b.resp.Output == nil {
		b.resp.Output = []any{}
	}
	if u != nil {
		b.resp.Usage = b.t.finalUsage(*u)
	}
	b.resp.Status = "failed"
	b.resp.Error = &ResponseError{Code: code, Message: msg}
	b.em.emit("response.failed", responseEvent{b.resp})
}
