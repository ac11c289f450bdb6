package web

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

type billingData struct {
	Balance    money.Micros
	FreeLeft   int64
	LiveKey    string
	Min, Max   money.Micros
	Presets    []money.Micros
	Default    money.Micros
	Payments   []accounts.Payment
	Checkout   string // "success" or "cancel" after Stripe Checkout
	MaxHistory int
	Labels     string // JSON {"kind": kindLabels, "method": methodLabels}, for app.js
}

func (p *Pages) billing(c echo.Context) error {
	ctx := p.ctx(c)
	u := viewerOf(c).User
	v, err := p.ledger(ctx, u.ID, needPayments)
	if err != nil {
		return err
	}
	la, pays := v.Account, v.payments
	d := billingData{
		Balance: money.Micros(la.BalanceMicros), FreeLeft: la.FreeRequestsLeft,
		Min: p.cfg.CheckoutMin, Max: p.cfg.CheckoutMax, Payments: pays, MaxHistory: accounts.MaxPayments,
	}
	d.LiveKey = liveKey(d.Balance, d.FreeLeft)
	labels, err := json.Marshal(map[string]map[string]string{"kind": kindLabels, "method": methodLabels})
	if err != nil {
		return fmt.Errorf("encode payment labels: %w", err)
	}
	d.Labels = string(labels)
	for _, v := range []money.Micros{5, 10, 20, 50, 100} {
		if m := v * money.Dollar; m >= d.Min && m <= d.Max {
			d.Presets = append(d.Presets, m)
		}
	}
	d.Default = d.Min
	if len(d.Presets) > 1 {
		d.Default = d.Presets[1]
	}
	switch c.QueryParam("checkout") {
	case "success", "cancel":
		d.Checkout = c.QueryParam("checkout")
	}
	return p.render(c, http.StatusOK, "billing", "Billing", "billing", d)
}
