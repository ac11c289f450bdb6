package payments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/onekey-oss/onekey/pkg/store"
)

// collUnsupported: one document per Checkout Session of ours that was paid
// in a currency other than USD (_id = session id). Credit is in micro-USD
// and payments has no exchange rate it could defend, so such a session
// credits nothing by itself: it is kept here, counted by
// payments_unsupported_currency_sessions and logged at error level, for an
// operator to refund it or credit it by hand (credit.adjusted).
const collUnsupported = "card_unsupported_currency"

// errUnsupportedCurrency marks a session of ours paid in another currency.
var errUnsupportedCurrency = errors.New("not in usd")

// unsupportedPayment is a paid session in another currency.
type unsupportedPayment struct {
	SessionID     string    `bson:"_id"`
	EventID       string    `bson:"event_id"`
	AccountID     string    `bson:"account_id"`
	PaymentIntent string    `bson:"payment_intent,omitempty"`
	Currency      string    `bson:"currency"`
	AmountMinor   int64     `bson:"amount_minor"` // in the currency's smallest unit, as Stripe gives it
	PaymentStatus string    `bson:"payment_status"`
	CreatedAt     time.Time `bson:"created_at"`
}

// recordUnsupportedCurrency stores a session of ours in another currency
// once (a unique insert on its id) and raises the operator alert the first
// time. A session not paid (yet) is only noted in the event's outcome.
func (s *Service) recordUnsupportedCurrency(ctx context.Context, ev stripe.Event, cs *stripe.CheckoutSession) (string, error) {
	cur := strings.ToLower(string(cs.Currency))
	outcome := "unsupported currency " + cur
	if cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
		return outcome + ": not paid", nil
	}
	p := unsupportedPayment{
		SessionID: cs.ID, EventID: ev.ID, AccountID: cs.ClientReferenceID, Currency: cur,
		AmountMinor: cs.AmountTotal, PaymentStatus: string(cs.PaymentStatus), CreatedAt: s.now().UTC(),
	}
	if cs.PaymentIntent != nil {
		p.PaymentIntent = cs.PaymentIntent.ID
	}
	if _, err := s.st.Collection(collUnsupported).InsertOne(ctx, p); err != nil {
		if store.IsDuplicate(err) {
			return outcome + ": recorded before", nil
		}
		return "", fmt.Errorf("record session %s in %s: %w", cs.ID, cur, err)
	}
	s.met.unsupportedCurrency(cur)
	s.log.Error("paid checkout session in an unsupported currency: credited nothing; refund it or credit it by hand",
		"session", cs.ID, "account", p.AccountID, "currency", cur, "amount_minor", p.AmountMinor, "event", ev.ID)
	return outcome + ": recorded for the operator", nil
}
