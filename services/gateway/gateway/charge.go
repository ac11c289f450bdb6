package gateway

import (
	"bytes"
	"strconv"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
)

// Cost in every answer. Each billed answer states what the request was
// charged, in the usage object its format reports usage in: "cost" in
// decimal USD (as OpenRouter does) and "cost_micros" as the exact integer,
// with "free": true for a free request (then both are 0). A plain answer
// also carries it in the X-Onekey-Cost-Micros header. The figure is the
// charge the usage event carries (biller), so the two never differ.

// A charge is what one request was charged, computed once from the usage the
// provider reported.
type charge struct {
	// usage is the usage as billed (with the tier billedCost chose).
	usage catalog.Usage
	// micros is the usage's cost at catalog prices with the markup.
	micros money.Micros
	// free: the request was one of the account's free requests, which
	// cost the account nothing.
	free bool
}

// charged is what the account pays: micros, or 0 for a free request.
func (c charge) charged() money.Micros {
	if c.free {
		return 0
	}
	return c.micros
}

// biller prices one request's usage. The answer (the cost in its usage) and
// the usage event both take their figure from its charge, so they cannot
// differ.
type biller struct {
	s        *Service
	m        *catalog.Model
	declared catalog.Declared
	free     bool
}

// charge prices u.
func (b *biller) charge(u catalog.Usage) charge {
	u, cost := b.s.billedCost(*b.m, u, b.declared)
	return charge{usage: u, micros: cost, free: b.free}
}

// bill records the provider's final usage u in res with its charge (bill
// nil: an unbilled API, usage only).
func (res *result) bill(u catalog.Usage, b *biller) {
	res.usage, res.haveUsage = u, true
	if b != nil {
		res.charge, res.charged = b.charge(u), true
	}
}

// costHeader carries a plain answer's charge, in micro-USD.
const costHeader = "X-Onekey-Cost-Micros"

// setCostHeader sets the charge's header.
func (c charge) setHeader(h map[string][]string) {
	h[costHeader] = []string{strconv.FormatInt(int64(c.charged()), 10)}
}

// appendMembers appends the charge's members of a usage object:
// ,"cost":0.001234,"cost_micros":1234 (and ,"free":true), without the
// leading comma when first.
func (c charge) appendMembers(dst []byte, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, `"cost":`...)
	dst = append(dst, c.charged().Decimal()...)
	dst = append(dst, `,"cost_micros":`...)
	dst = strconv.AppendInt(dst, int64(c.charged()), 10)
	if c.free {
		dst = append(dst, `,"free":true`...)
	}
	return dst
}

// withCost returns doc, a JSON object, with the charge added to its
// top-level usage object, or doc itself when it has none.
func withCost(doc []byte, c charge) []byte {
	s, e, ok, err := jsonscan.Find(doc, "usage")
	if err != nil || !ok {
		return doc
	}
	return insertCost(doc, s, e, c)
}

// insertCost returns a copy of doc with the charge's members added at the
// end of the object doc[start:end] (a usage object wherever its format puts
// it: Responses' response.usage is nested), or doc itself when that is not
// an object.
func insertCost(doc []byte, start, end int, c charge) []byte {
	if end-start < 2 || doc[start] != '{' || doc[end-1] != '}' {
		return doc
	}
	empty := len(bytes.TrimSpace(doc[start+1:end-1])) == 0
	out := make([]byte, 0, len(doc)+64)
	out = append(out, doc[:end-1]...)
	out = c.appendMembers(out, empty)
	return append(out, doc[end-1:]...)
}

// sseEvent returns a server-sent event named name (no "event:" line when
// empty) carrying data, one "data:" line per line of data.
func sseEvent(name, data []byte) []byte {
	out := make([]byte, 0, len(name)+len(data)+24)
	if len(name) > 0 {
		out = append(out, "event: "...)
		out = append(out, name...)
		out = append(out, '\n')
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		out = append(out, "data: "...)
		out = append(out, line...)
		out = append(out, '\n')
	}
	return append(out, '\n')
}
