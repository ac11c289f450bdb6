package payments

import (
	"context"
	"errors"
	"net/url"

	"github.com/stripe/stripe-go/v76"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// Checkout reply codes.
const (
	CodeAmountOutOfRange = "amount_out_of_range"
	CodeUnavailable      = "unavailable"
)

// CreateCheckout asks Stripe for a Checkout Session that tops up
// req.AccountID by req.AmountMicros, and returns its URL. The account id
// travels as client_reference_id and as metadata of the session and of its
// payment intent; the webhook later reads both back from Stripe. Payment
// methods are left to the Stripe dashboard (cards, and Apple Pay and
// Google Pay on top of cards, are Checkout's defaults).
func (s *Service) CreateCheckout(ctx context.Context, req events.CheckoutRequestV1) events.CheckoutReplyV1 {
	fail := func(code, msg string) events.CheckoutReplyV1 {
		return events.CheckoutReplyV1{V: 1, Code: code, Error: msg}
	}
	if s.stripe == nil && !s.cfg.DevTopUp {
		return fail(CodeUnavailable, "card payments are not configured")
	}
	if events.ValidToken(req.AccountID) != nil {
		return fail(events.CodeBadRequest, "no valid account id")
	}
	if req.AmountMicros < s.cfg.CheckoutMin || req.AmountMicros > s.cfg.CheckoutMax || req.AmountMicros%money.Cent != 0 {
		return fail(CodeAmountOutOfRange, "amount must be whole cents from "+s.cfg.CheckoutMin.Display()+" to "+s.cfg.CheckoutMax.Display())
	}
	if !absoluteHTTP(req.SuccessURL) || !absoluteHTTP(req.CancelURL) {
		return fail(events.CodeBadRequest, "success_url and cancel_url must be absolute http(s) URLs")
	}
	if s.stripe == nil {
		return s.devCheckout(ctx, req)
	}
	meta := map[string]string{"account_id": req.AccountID}
	params := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID: stripe.String(req.AccountID),
		SuccessURL:        stripe.String(req.SuccessURL),
		CancelURL:         stripe.String(req.CancelURL),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripe.String(string(stripe.CurrencyUSD)),
				UnitAmount:  stripe.Int64(int64(req.AmountMicros / money.Cent)),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("OneKey credit")},
			},
		}},
		PaymentIntentData: &stripe.CheckoutSessionPaymentIntentDataParams{Metadata: meta},
	}
	params.Metadata = meta
	if req.Email != "" {
		params.CustomerEmail = stripe.String(req.Email)
	}
	params.Context = ctx
	cs, err := s.stripe.CheckoutSessions.New(params)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) {
			s.log.Warn("stripe checkout", "account", req.AccountID, "status", se.HTTPStatusCode, "code", se.Code, "request", se.RequestID)
		} else {
			s.log.Warn("stripe checkout", "account", req.AccountID, "err", err)
		}
		return fail(CodeUnavailable, "the payment provider could not start a checkout; try again")
	}
	return events.CheckoutReplyV1{V: 1, URL: cs.URL, SessionID: cs.ID}
}

func (s *Service) checkoutRequest(ctx context.Context, req events.CheckoutRequestV1) events.CheckoutReplyV1 {
	rep := s.CreateCheckout(ctx, req)
	outcome := rep.Code
	if outcome == "" {
		outcome = "created"
	}
	s.met.checkout(outcome)
	return rep
}

func absoluteHTTP(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
