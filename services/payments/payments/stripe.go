package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/store"
)

// webhookTolerance is how old a signed webhook may be: an older one is
// refused as a possible replay.
const webhookTolerance = 300 * time.Second

// maxWebhookBody bounds a webhook body; Stripe's events are far smaller.
const maxWebhookBody = 1 << 20

// Payment kinds stored in collPayments besides the credit kinds of
// api/events (purchase, refund, dispute, dispute_won).
const kindFailed = "failed"

// payment is one effect of Stripe on an account: the outbox record that is
// stored before it is published.
type payment struct {
	ID            string    `bson:"_id"` // kind:stripe object id
	Kind          string    `bson:"kind"`
	EventID       string    `bson:"event_id"` // the Stripe event that first caused it: the bus event id
	EventTime     time.Time `bson:"event_time"`
	AccountID     string    `bson:"account_id"`
	SessionID     string    `bson:"session_id"`
	PaymentIntent string    `bson:"payment_intent,omitempty"`
	AmountMicros  int64     `bson:"amount_micros"`    // signed: reversals are negative
	Source        string    `bson:"source,omitempty"` // "stripe" (when empty) or "dev"
	Published     bool      `bson:"published"`
	CreatedAt     time.Time `bson:"created_at"`
}

// stripeEvent records that a Stripe event was seen, and whether its effect
// is safely on the bus.
type stripeEvent struct {
	ID         string    `bson:"_id"`
	Type       string    `bson:"type"`
	Created    time.Time `bson:"created"`
	ReceivedAt time.Time `bson:"received_at"`
	Done       bool      `bson:"done"`
	Outcome    string    `bson:"outcome,omitempty"`
}

// Errors that decide the webhook's answer.
var (
	// errRetryLater: the event cannot be applied yet (a refund of a payment
	// not seen yet); Stripe's retry will apply it.
	errRetryLater = errors.New("cannot apply yet")
	// errPublish: stored but not on the bus; the retry or the relay will
	// publish it.
	errPublish = errors.New("publish failed")
)

// handleStripeWebhook verifies the signature (endpoint secret, 300s
// tolerance, stripe-go's API version) and applies the event. A bad
// signature, a stale timestamp or an unreadable body is 400 with no effect;
// anything not safely stored and published is 5xx so that Stripe retries.
func (s *Service) handleStripeWebhook(w http.ResponseWriter, r *http.Request) {
	if s.cfg.StripeWebhookSecret == "" {
		http.Error(w, "stripe webhooks are not configured", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), s.cfg.StripeWebhookSecret,
		webhook.ConstructEventOptions{Tolerance: webhookTolerance})
	if err != nil {
		s.log.Warn("stripe webhook refused", "err", err)
		s.met.webhook("refused")
		http.Error(w, "invalid signature or payload", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	if err := s.ApplyStripeEvent(ctx, ev); err != nil {
		s.log.Warn("stripe webhook not applied; Stripe will retry", "event", ev.ID, "type", ev.Type, "err", err)
		code := http.StatusInternalServerError
		if errors.Is(err, errRetryLater) || errors.Is(err, errPublish) {
			code = http.StatusServiceUnavailable
		}
		s.met.webhook("retry")
		http.Error(w, "not applied; retry later", code)
		return
	}
	s.met.webhook("applied")
	w.WriteHeader(http.StatusOK)
}

// ApplyStripeEvent applies one verified Stripe event (from a webhook or
// from reconcile). It is safe to call any number of times, concurrently,
// in any order: each effect is keyed by its Stripe object (one purchase
// per Checkout Session, one reversal per refund or dispute) and published
// with the id of the event that first caused it. It returns nil only when
// the effect, if any, is stored and acknowledged by the bus.
func (s *Service) ApplyStripeEvent(ctx context.Context, ev stripe.Event) error {
	if ev.ID == "" {
		return fmt.Errorf("stripe event without id: %w", errNotOurs)
	}
	now := s.now().UTC()
	coll := s.st.Collection(collEvents)
	_, err := coll.InsertOne(ctx, stripeEvent{ID: ev.ID, Type: string(ev.Type), Created: time.Unix(ev.Created, 0).UTC(), ReceivedAt: now})
	switch {
	case err == nil:
	case store.IsDuplicate(err):
		var seen stripeEvent
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: ev.ID}}).Decode(&seen); err != nil {
			return fmt.Errorf("read stripe event %s: %w", ev.ID, err)
		}
		if seen.Done {
			return nil
		}
		// Seen but not finished (a failed publish, a crash, or a
		// concurrent delivery): apply again, which is idempotent.
	default:
		return fmt.Errorf("record stripe event %s: %w", ev.ID, err)
	}
	outcome, err := s.applyEffect(ctx, ev)
	if err != nil {
		if errors.Is(err, errNotOurs) {
			outcome, err = "ignored: "+err.Error(), nil
		} else {
			return err
		}
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: ev.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "done", Value: true}, {Key: "outcome", Value: outcome}}}}); err != nil {
		// The effect is on the bus; a retry re-publishes the same id.
		return fmt.Errorf("mark stripe event %s done: %w", ev.ID, err)
	}
	return nil
}

// errNotOurs marks an event that is valid but concerns nothing of ours (a
// session another integration created); it is recorded and acknowledged.
var errNotOurs = errors.New("not a onekey payment")

// applyEffect interprets ev and stores and publishes its effect. It returns
// a short outcome for the event record.
func (s *Service) applyEffect(ctx context.Context, ev stripe.Event) (string, error) {
	switch ev.Type {
	case stripe.EventTypeCheckoutSessionCompleted, stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded, stripe.EventTypeCheckoutSessionAsyncPaymentFailed:
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &cs); err != nil {
			return "", fmt.Errorf("decode checkout session of %s: %w", ev.ID, errNotOurs)
		}
		acc, amount, err := sessionPayment(&cs)
		if errors.Is(err, errUnsupportedCurrency) {
			return s.recordUnsupportedCurrency(ctx, ev, &cs)
		}
		if err != nil {
			return "", err
		}
		p := payment{EventID: ev.ID, EventTime: time.Unix(ev.Created, 0).UTC(), AccountID: acc, SessionID: cs.ID, AmountMicros: int64(amount)}
		if cs.PaymentIntent != nil {
			p.PaymentIntent = cs.PaymentIntent.ID
		}
		switch {
		case ev.Type == stripe.EventTypeCheckoutSessionAsyncPaymentFailed:
			p.Kind, p.ID = kindFailed, kindFailed+":"+cs.ID
		case cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusPaid:
			// completed-and-paid and async_payment_succeeded both credit the
			// session; whichever is stored first is the one credit.
			p.Kind, p.ID = events.CreditPurchase, events.CreditPurchase+":"+cs.ID
		default:
			return "session not paid (yet)", nil
		}
		return p.Kind, s.storeAndPublish(ctx, p)

	case stripe.EventTypeRefundCreated:
		var rf stripe.Refund
		if err := json.Unmarshal(ev.Data.Raw, &rf); err != nil {
			return "", fmt.Errorf("decode refund of %s: %w", ev.ID, errNotOurs)
		}
		if rf.Status == stripe.RefundStatusFailed || rf.Status == stripe.RefundStatusCanceled {
			return "refund " + string(rf.Status), nil
		}
		return events.CreditRefund, s.reverse(ctx, ev, events.CreditRefund, rf.ID, rf.PaymentIntent, rf.Currency, -rf.Amount)

	case stripe.EventTypeChargeDisputeCreated, stripe.EventTypeChargeDisputeClosed:
		var dp stripe.Dispute
		if err := json.Unmarshal(ev.Data.Raw, &dp); err != nil {
			return "", fmt.Errorf("decode dispute of %s: %w", ev.ID, errNotOurs)
		}
		if ev.Type == stripe.EventTypeChargeDisputeCreated {
			return events.CreditDispute, s.reverse(ctx, ev, events.CreditDispute, dp.ID, dp.PaymentIntent, dp.Currency, -dp.Amount)
		}
		// won: decided for us; warning_closed: an inquiry that closed
		// without becoming a chargeback. Either way the money the opening
		// took comes back, once per dispute (one dispute_won:<dispute>).
		if dp.Status != stripe.DisputeStatusWon && dp.Status != stripe.DisputeStatusWarningClosed {
			return "dispute closed " + string(dp.Status), nil
		}
		// Give back only what the dispute took: if its opening was not
		// applied yet, wait for it (Stripe retries, reconcile catches up).
		n, err := s.st.Collection(collPayments).CountDocuments(ctx, bson.D{{Key: "_id", Value: events.CreditDispute + ":" + dp.ID}})
		if err != nil {
			return "", fmt.Errorf("find dispute %s: %w", dp.ID, err)
		}
		if n == 0 {
			return "", fmt.Errorf("dispute %s won before it was opened here: %w", dp.ID, errRetryLater)
		}
		return events.CreditDisputeWon + " (" + string(dp.Status) + ")", s.reverse(ctx, ev, events.CreditDisputeWon, dp.ID, dp.PaymentIntent, dp.Currency, dp.Amount)
	}
	return "ignored type", nil
}

// sessionPayment reads the account and the amount of credit from Stripe's
// session object, never from the browser: the account from
// client_reference_id, cross-checked with the metadata set at creation;
// the amount from what was charged before tax and shipping, in USD.
func sessionPayment(cs *stripe.CheckoutSession) (string, money.Micros, error) {
	acc := cs.ClientReferenceID
	if acc == "" || cs.Metadata["account_id"] != acc || events.ValidToken(acc) != nil {
		return "", 0, fmt.Errorf("session %s has no matching account: %w", cs.ID, errNotOurs)
	}
	if cs.Currency != stripe.CurrencyUSD {
		return acc, 0, fmt.Errorf("session %s is in %q, not usd: %w", cs.ID, cs.Currency, errUnsupportedCurrency)
	}
	cents := cs.AmountTotal
	if td := cs.TotalDetails; td != nil {
		cents -= td.AmountTax + td.AmountShipping
	}
	if cents <= 0 {
		return "", 0, fmt.Errorf("session %s has no amount: %w", cs.ID, errNotOurs)
	}
	return acc, money.Micros(cents) * money.Cent, nil
}

// reverse stores and publishes a refund, dispute or dispute reversal of a
// purchase found by its payment intent. If the purchase is not known yet
// (events out of order) it returns errRetryLater, so Stripe delivers the
// event again later.
func (s *Service) reverse(ctx context.Context, ev stripe.Event, kind, objectID string, pi *stripe.PaymentIntent, cur stripe.Currency, cents int64) error {
	if pi == nil || pi.ID == "" || objectID == "" {
		return fmt.Errorf("%s without payment intent: %w", kind, errNotOurs)
	}
	if cur != stripe.CurrencyUSD {
		return fmt.Errorf("%s %s in %q: %w", kind, objectID, cur, errNotOurs)
	}
	var purchase payment
	err := s.st.Collection(collPayments).FindOne(ctx, bson.D{{Key: "payment_intent", Value: pi.ID}, {Key: "kind", Value: events.CreditPurchase}}).Decode(&purchase)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("%s %s of payment intent %s before its purchase: %w", kind, objectID, pi.ID, errRetryLater)
	}
	if err != nil {
		return fmt.Errorf("find purchase of %s: %w", pi.ID, err)
	}
	return s.storeAndPublish(ctx, payment{
		ID: kind + ":" + objectID, Kind: kind, EventID: ev.ID, EventTime: time.Unix(ev.Created, 0).UTC(),
		AccountID: purchase.AccountID, SessionID: purchase.SessionID, PaymentIntent: pi.ID,
		AmountMicros: int64(money.Micros(cents) * money.Cent),
	})
}

// storeAndPublish inserts p unless its key exists, then publishes what is
// stored (so a second event for the same session republishes the first
// event's id, which JetStream and the ledger drop) and marks it published.
func (s *Service) storeAndPublish(ctx context.Context, p payment) error {
	p.CreatedAt = s.now().UTC()
	coll := s.st.Collection(collPayments)
	if _, err := coll.InsertOne(ctx, p); err != nil {
		if !store.IsDuplicate(err) {
			return fmt.Errorf("store %s: %w", p.ID, err)
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: p.ID}}).Decode(&p); err != nil {
			return fmt.Errorf("read %s: %w", p.ID, err)
		}
	}
	return s.publish(ctx, p)
}

func (s *Service) publish(ctx context.Context, p payment) error {
	var ev events.Event
	if p.Kind == kindFailed {
		ev = events.PaymentFailedV1{V: 1, ID: p.EventID, Time: p.EventTime, AccountID: p.AccountID, PaymentID: p.SessionID, AmountMicros: money.Micros(p.AmountMicros), Reason: "async_payment_failed"}
	} else {
		src := p.Source
		if src == "" {
			src = "stripe"
		}
		ev = events.CreditPurchasedV1{V: 1, ID: p.EventID, Time: p.EventTime, AccountID: p.AccountID, Kind: p.Kind, AmountMicros: money.Micros(p.AmountMicros), Source: src, PaymentID: p.SessionID}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.bus.Publish(pctx, ev); err != nil {
		return fmt.Errorf("%w: %s: %w", errPublish, p.ID, err)
	}
	if !p.Published {
		if _, err := s.st.Collection(collPayments).UpdateOne(ctx, bson.D{{Key: "_id", Value: p.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "published", Value: true}}}}); err != nil {
			// Published; the relay may publish it again, which is harmless.
			s.log.Warn("mark payment published", "payment", p.ID, "err", err)
		}
	}
	return nil
}

// relayLoop publishes stored payments that are not marked published (a
// crash or a bus outage between store and publish), every OutboxInterval.
func (s *Service) relayLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.OutboxInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.RelayUnpublished(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("relay unpublished payments", "published", n, "err", err)
			}
		}
	}
}

// RelayUnpublished publishes every stored payment not yet marked published
// and older than a few seconds (younger ones are in a webhook's hands).
func (s *Service) RelayUnpublished(ctx context.Context) (int, error) {
	cutoff := s.now().UTC().Add(-5 * time.Second)
	cur, err := s.st.Collection(collPayments).Find(ctx, bson.D{{Key: "published", Value: false}, {Key: "created_at", Value: bson.D{{Key: "$lt", Value: cutoff}}}})
	if err != nil {
		return 0, fmt.Errorf("find unpublished payments: %w", err)
	}
	var ps []payment
	if err := cur.All(ctx, &ps); err != nil {
		return 0, fmt.Errorf("read unpublished payments: %w", err)
	}
	n := 0
	for _, p := range ps {
		if err := s.publish(ctx, p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
