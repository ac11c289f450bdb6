package payments

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/ids"
)

// collDevCheckouts holds the dev top-ups offered by checkout when
// DevTopUp is on: a stand-in for Stripe's Checkout Session.
const collDevCheckouts = "dev_checkouts"

type devCheckout struct {
	ID           string    `bson:"_id"`
	AccountID    string    `bson:"account_id"`
	AmountMicros int64     `bson:"amount_micros"`
	SuccessURL   string    `bson:"success_url"`
	CancelURL    string    `bson:"cancel_url"`
	ExpiresAt    time.Time `bson:"expires_at"`
}

// devCheckout answers a checkout request without Stripe: a page of this
// service stands in for Checkout.
func (s *Service) devCheckout(ctx context.Context, req events.CheckoutRequestV1) events.CheckoutReplyV1 {
	dc := devCheckout{ID: ids.New("devcs"), AccountID: req.AccountID, AmountMicros: int64(req.AmountMicros),
		SuccessURL: req.SuccessURL, CancelURL: req.CancelURL, ExpiresAt: s.now().UTC().Add(24 * time.Hour)}
	if _, err := s.st.Collection(collDevCheckouts).InsertOne(ctx, dc); err != nil {
		s.log.Warn("store dev checkout", "err", err)
		return events.CheckoutReplyV1{V: 1, Code: CodeUnavailable, Error: "try again"}
	}
	return events.CheckoutReplyV1{V: 1, URL: strings.TrimRight(s.cfg.PublicURL, "/") + "/dev/checkout/" + dc.ID, SessionID: dc.ID}
}

func (s *Service) findDevCheckout(r *http.Request) (devCheckout, int) {
	var dc devCheckout
	err := s.st.Collection(collDevCheckouts).FindOne(r.Context(), bson.D{{Key: "_id", Value: r.PathValue("id")}}).Decode(&dc)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return dc, http.StatusNotFound
	case err != nil:
		return dc, http.StatusServiceUnavailable
	case !s.now().Before(dc.ExpiresAt):
		return dc, http.StatusGone
	}
	return dc, 0
}

var devPage = template.Must(template.New("dev").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DEV TOP-UP - not a payment</title><link rel="icon" href="data:,"></head>
<body style="font-family:sans-serif;max-width:36em;margin:3em auto"><main>
<h1 style="color:#b00">DEV TOP-UP &mdash; no money moves</h1>
<p>This onekey runs without Stripe keys (devstack). This page stands in for Stripe Checkout so the credit
path can be tried: pressing the button credits <strong>{{.Amount}}</strong> to account <code>{{.Account}}</code>
as a purchase with source <code>dev</code>. It is not a payment.</p>
<form method="post"><button type="submit">Add {{.Amount}} of dev credit</button></form>
<p><a href="{{.Cancel}}">Cancel</a></p>
</main></body></html>
`))

func (s *Service) devCheckoutPage(w http.ResponseWriter, r *http.Request) {
	dc, code := s.findDevCheckout(r)
	if code != 0 {
		http.Error(w, http.StatusText(code), code)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = devPage.Execute(w, map[string]string{"Amount": money.Micros(dc.AmountMicros).Display(), "Account": dc.AccountID, "Cancel": dc.CancelURL})
}

// devCheckoutPay credits the dev top-up once (keyed by its id, like a
// Checkout Session) and redirects to the success URL.
func (s *Service) devCheckoutPay(w http.ResponseWriter, r *http.Request) {
	dc, code := s.findDevCheckout(r)
	if code != 0 {
		http.Error(w, http.StatusText(code), code)
		return
	}
	p := payment{ID: events.CreditPurchase + ":" + dc.ID, Kind: events.CreditPurchase, EventID: "dev:" + dc.ID,
		EventTime: s.now().UTC(), AccountID: dc.AccountID, SessionID: dc.ID, AmountMicros: dc.AmountMicros, Source: "dev"}
	if err := s.storeAndPublish(r.Context(), p); err != nil {
		s.log.Warn("dev top-up", "err", err)
		http.Error(w, "not credited; try again", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, dc.SuccessURL, http.StatusSeeOther)
}
