package gateway

import (
	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
)

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
