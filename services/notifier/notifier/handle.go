package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/notifier/internal/mail"
)

// CollUsers is auth's collection of people: _id is the account id, email
// the address, deleted_at set once the person asked to be deleted. The
// notifier only reads it.
const CollUsers = "users"

// errNoAddress: the account has no address to mail (unknown or deleted).
var errNoAddress = errors.New("no address for account")

// handleMail handles mail.requested (notifier-mail). Safe to run twice:
// see deliver. A sign-in mail whose link has expired is dropped: it could
// only confuse. So is one that can never be sent (an invalid event, or
// Resend refusing it), with a log line and a metric but no dead letter.
// A sign-in link must come sealed by auth (events.SealMail): one in clear
// is dropped unsent (nothing that holds no key may make the notifier mail
// a link, and a dead letter would keep it readable), and so is one whose
// seal does not open with the notifier's keys (a rotation in the wrong
// order, or tampering): an error log line and a metric tell the operator,
// and no dead letter keeps the address for 90 days to replay a link that
// expires in 15 minutes. No log line ever holds the link or the address.
func (s *Service) handleMail(ctx context.Context, msg jetstream.Msg) error {
	ev, err := decode[events.MailRequestedV1](msg)
	if err != nil {
		return s.dropMail(ctx, "", bus.MsgID(msg), err)
	}
	if ev.Template == events.MailMagicLink && !s.now().Before(s.linkExpiry(ev)) {
		s.metrics.mail(ctx, ev.Template, "expired")
		s.log.Info("sign-in mail dropped: its link has expired", "event_id", ev.ID)
		return nil
	}
	if _, clear := ev.Data["link"]; ev.Template == events.MailMagicLink && (clear || ev.Sealed == nil) {
		s.metrics.mail(ctx, ev.Template, "unsealed")
		s.log.Warn("sign-in mail dropped: its link is not sealed by auth", "event_id", ev.ID)
		return nil
	}
	if ev.Data, err = events.OpenMail(ev, s.mailKeys...); err != nil {
		s.metrics.mail(ctx, ev.Template, "unopened")
		s.log.Error("sign-in mail dropped: its sealed link does not open with MAIL_SEAL_KEY or MAIL_SEAL_KEY_PREVIOUS (auth's key differs?)", "event_id", ev.ID, "err", err)
		return nil
	}
	m, err := s.render.MagicLink(ev)
	if err != nil {
		err = s.renderFailed(ctx, ev.Template, ev.ID, err)
	} else {
		err = s.deliver(ctx, m)
	}
	if errors.Is(err, bus.ErrPermanent) {
		return s.dropMail(ctx, ev.Template, ev.ID, err)
	}
	return err
}

func (s *Service) dropMail(ctx context.Context, kind, id string, err error) error {
	if kind == "" {
		kind = "unknown"
	}
	s.metrics.mail(ctx, kind, "dropped")
	s.log.Warn("mail request dropped: it cannot be sent", "event_id", id, "kind", kind, "err", err)
	return nil
}

func (s *Service) linkExpiry(ev events.MailRequestedV1) time.Time {
	if t, err := time.Parse(time.RFC3339, ev.Data["expires_at"]); err == nil {
		return t
	}
	return ev.Time.Add(s.cfg.MagicLinkTTL)
}

// handleNotify handles the NOTIFY stream (notifier): receipts, low
// balances, failed payments, rejected transfers. Safe to run twice: see
// deliver.
func (s *Service) handleNotify(ctx context.Context, msg jetstream.Msg) error {
	subject := msg.Subject()
	family := subject
	if i := strings.LastIndexByte(subject, '.'); i > 0 {
		family = subject[:i]
	}
	switch family {
	case events.FamilyCreditApplied:
		return accountMail(ctx, s, msg, mail.KindReceipt, func(ev events.CreditAppliedV1) string { return ev.AccountID }, s.render.Receipt)
	case events.FamilyBalanceLow:
		return accountMail(ctx, s, msg, mail.KindBalanceLow, func(ev events.BalanceLowV1) string { return ev.AccountID }, s.render.BalanceLow)
	case events.FamilyPaymentFailed:
		return accountMail(ctx, s, msg, mail.KindPaymentFailed, func(ev events.PaymentFailedV1) string { return ev.AccountID }, s.render.PaymentFailed)
	case events.FamilyTxRejected:
		return accountMail(ctx, s, msg, mail.KindTxRejected, func(ev events.TxRejectedV1) string { return ev.AccountID }, s.render.TxRejected)
	}
	// A family added to NOTIFY later that the notifier does not mail.
	s.metrics.mail(ctx, "unknown", "ignored")
	s.log.Warn("event ignored: no mail for this subject", "subject_family", family, "event_id", bus.MsgID(msg))
	return nil
}

// accountMail decodes an event about an account, finds the account's
// address and delivers the rendered mail.
func accountMail[E events.Event](ctx context.Context, s *Service, msg jetstream.Msg, kind string, account func(E) string, render func(E, string) (mail.Message, error)) error {
	ev, err := decode[E](msg)
	if err != nil {
		return err
	}
	acc := account(ev)
	to, err := s.address(ctx, acc)
	if errors.Is(err, errNoAddress) {
		s.metrics.mail(ctx, kind, "no_address")
		s.log.Info("mail not sent: the account has no address", "event_id", ev.EventID(), "kind", kind, "account_id", acc)
		return nil
	}
	if err != nil {
		return err
	}
	m, err := render(ev, to)
	if err != nil {
		return s.renderFailed(ctx, kind, ev.EventID(), err)
	}
	return s.deliver(ctx, m)
}

func (s *Service) renderFailed(ctx context.Context, kind, id string, err error) error {
	if errors.Is(err, mail.ErrInvalid) {
		s.metrics.mail(ctx, kind, "invalid")
		return fmt.Errorf("%w: event %s: %v", bus.ErrPermanent, id, err)
	}
	return fmt.Errorf("event %s: %w", id, err)
}

// decode reads an event; one that does not decode, or has no id to send
// it once by, is dead-lettered.
func decode[E events.Event](msg jetstream.Msg) (E, error) {
	var ev E
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		return ev, fmt.Errorf("%w: decode %T: %v", bus.ErrPermanent, ev, err)
	}
	if ev.EventID() == "" {
		return ev, fmt.Errorf("%w: %T without an id", bus.ErrPermanent, ev)
	}
	return ev, nil
}

// address returns the mail address of a live account.
func (s *Service) address(ctx context.Context, accountID string) (string, error) {
	if accountID == "" || accountID == events.NoAccount {
		return "", errNoAddress
	}
	var u struct {
		Email     string     `bson:"email"`
		DeletedAt *time.Time `bson:"deleted_at"`
	}
	opts := options.FindOne().SetProjection(bson.D{{Key: "email", Value: 1}, {Key: "deleted_at", Value: 1}})
	err := s.st.Collection(CollUsers).FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}, opts).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", errNoAddress
	}
	if err != nil {
		return "", fmt.Errorf("look up the address of %s: %w", accountID, err)
	}
	if u.Email == "" || u.DeletedAt != nil {
		return "", errNoAddress
	}
	return u.Email, nil
}
