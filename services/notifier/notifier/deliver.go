package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/notifier/internal/mail"
	"github.com/onekey-oss/onekey/services/notifier/internal/send"
)

// CollMails is the notifier's own collection: one record per event that
// led to a mail, keyed by the event id. It holds no address and no content.
const CollMails = "notifier_mails"

// Record states.
const (
	StateSending = "sending" // claimed; the send may or may not have happened
	StateSent    = "sent"    // the provider accepted the mail
)

// Record is one document of CollMails.
type Record struct {
	ID         string     `bson:"_id"` // the event id, also the Idempotency-Key
	Kind       string     `bson:"kind"`
	AccountID  string     `bson:"account_id,omitempty"`
	State      string     `bson:"state"`
	Transport  string     `bson:"transport"`
	ProviderID string     `bson:"provider_id,omitempty"`
	CreatedAt  time.Time  `bson:"created_at"`
	SentAt     *time.Time `bson:"sent_at,omitempty"`
	ExpiresAt  time.Time  `bson:"expires_at"` // swept after RecordRetention
}

// deliver sends m once however often it is called, concurrently or after a
// crash:
//
//  1. insert the record {_id: event id, state: sending}; the unique _id
//     decides who is first. If it exists and says sent, stop: done before.
//  2. send with Idempotency-Key = event id. A second sender (a crash
//     between send and step 3, a lost answer, a concurrent redelivery)
//     uses the same key, and Resend answers it without a second mail.
//  3. mark the record sent.
//
// A failure returns an error, so the bus redelivers; a failure no retry
// can fix wraps bus.ErrPermanent, so the event is dead-lettered.
func (s *Service) deliver(ctx context.Context, m mail.Message) error {
	now := s.now().UTC()
	account := m.AccountID
	if account == events.NoAccount {
		account = ""
	}
	rec := Record{ID: m.ID, Kind: m.Kind, AccountID: account, State: StateSending, Transport: s.transport, CreatedAt: now, ExpiresAt: now.Add(s.cfg.RecordRetention)}
	coll := s.st.Collection(CollMails)
	if _, err := coll.InsertOne(ctx, rec); err != nil {
		if !store.IsDuplicate(err) {
			return fmt.Errorf("record mail %s: %w", m.ID, err)
		}
		var prev Record
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: m.ID}}).Decode(&prev); err != nil {
			return fmt.Errorf("read mail record %s: %w", m.ID, err)
		}
		if prev.State == StateSent {
			s.metrics.mail(ctx, m.Kind, "duplicate")
			s.log.Debug("mail already sent", "event_id", m.ID, "kind", m.Kind)
			return nil
		}
		// Claimed before and not known to be sent: send again under the
		// same key (see above).
	}
	start := time.Now()
	providerID, err := s.send.Send(ctx, m)
	s.metrics.sendDuration(ctx, m.Kind, s.transport, time.Since(start), err == nil)
	outcome := "sent"
	var se *send.Error
	switch {
	case err == nil:
	case errors.As(err, &se) && se.KeyUsed:
		// Resend saw this event's key before with other content (the
		// template changed between two deliveries): that mail went out.
		outcome = "duplicate"
	case errors.As(err, &se) && se.Permanent():
		s.metrics.mail(ctx, m.Kind, "refused")
		return fmt.Errorf("%w: send %s mail %s: %v", bus.ErrPermanent, m.Kind, m.ID, err)
	default:
		s.metrics.mail(ctx, m.Kind, "retry")
		return fmt.Errorf("send %s mail %s: %w", m.Kind, m.ID, err)
	}
	sent := s.now().UTC()
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: m.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "state", Value: StateSent}, {Key: "provider_id", Value: providerID}, {Key: "sent_at", Value: sent},
	}}})
	if err != nil {
		// The mail is out; a redelivery resends under the same key.
		return fmt.Errorf("mark mail %s sent: %w", m.ID, err)
	}
	s.metrics.mail(ctx, m.Kind, outcome)
	s.log.Info("mail sent", "event_id", m.ID, "kind", m.Kind, "account_id", account, "transport", s.transport, "provider_id", providerID, "outcome", outcome)
	return nil
}

// RecordOf returns the record of the mail for an event (for tests and
// operators); mongo.ErrNoDocuments when there is none.
func (s *Service) RecordOf(ctx context.Context, eventID string) (Record, error) {
	var r Record
	err := s.st.Collection(CollMails).FindOne(ctx, bson.D{{Key: "_id", Value: eventID}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Record{}, err
	}
	if err != nil {
		return Record{}, fmt.Errorf("read mail record %s: %w", eventID, err)
	}
	return r, nil
}
