package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v76"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// handledTypes are the Stripe event types payments acts on; the webhook
// endpoint must be subscribed to them.
var handledTypes = []stripe.EventType{
	stripe.EventTypeCheckoutSessionCompleted,
	stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded,
	stripe.EventTypeCheckoutSessionAsyncPaymentFailed,
	stripe.EventTypeRefundCreated,
	stripe.EventTypeChargeDisputeCreated,
	stripe.EventTypeChargeDisputeClosed,
}

// ReconcileResult counts what Reconcile did.
type ReconcileResult struct {
	Listed  int // events Stripe reported as not delivered
	Applied int // of which were new or unfinished here, and are now applied
	Failed  int // could not be applied (see the log); a later run retries
}

// Reconcile asks Stripe's events API for the events of the handled types
// created since `since` whose webhook delivery did not succeed, and applies
// each one this service has not finished, exactly as a webhook would.
// Stripe keeps events for 30 days. Safe to run at any time, and while the
// webhook is live.
func (s *Service) Reconcile(ctx context.Context, since time.Time) (ReconcileResult, error) {
	var res ReconcileResult
	if s.stripe == nil {
		return res, errors.New("reconcile: STRIPE_SECRET_KEY is not set")
	}
	params := &stripe.EventListParams{
		CreatedRange:    &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
		DeliverySuccess: stripe.Bool(false),
	}
	for _, t := range handledTypes {
		params.Types = append(params.Types, stripe.String(string(t)))
	}
	params.Context = ctx
	it := s.stripe.Events.List(params)
	var errs []error
	for it.Next() {
		ev := it.Event()
		res.Listed++
		var seen stripeEvent
		err := s.st.Collection(collEvents).FindOne(ctx, bson.D{{Key: "_id", Value: ev.ID}}).Decode(&seen)
		if err == nil && seen.Done {
			continue
		}
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return res, fmt.Errorf("reconcile: read event %s: %w", ev.ID, err)
		}
		if err := s.ApplyStripeEvent(ctx, *ev); err != nil {
			res.Failed++
			errs = append(errs, fmt.Errorf("event %s (%s): %w", ev.ID, ev.Type, err))
			continue
		}
		res.Applied++
		s.log.Info("reconcile applied a missed Stripe event", "event", ev.ID, "type", ev.Type)
	}
	if err := it.Err(); err != nil {
		return res, fmt.Errorf("reconcile: list stripe events: %w", err)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("reconcile: %w", errors.Join(errs...))
	}
	return res, nil
}
