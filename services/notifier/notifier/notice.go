package notifier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/notices"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/notifier/internal/mail"
)

// handleNotice handles notice.requested (notifier-notices): the notice
// (read from api/notices' collection, never from the event) to the
// account's address, paced at one mail per NoticeInterval. Safe to run
// twice: see deliver (the event id, notice:<notice>:<account>, is the
// record's id and Resend's Idempotency-Key). A deleted or unknown account
// gets nothing; a notice that does not exist or cannot be rendered is
// dead-lettered (the dead letter holds ids only).
func (s *Service) handleNotice(ctx context.Context, msg jetstream.Msg) error {
	ev, err := decode[events.NoticeRequestedV1](msg)
	if err != nil {
		return err
	}
	n, err := s.notices.get(ctx, ev.NoticeID)
	if err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	to, err := s.address(ctx, ev.AccountID)
	if errors.Is(err, errNoAddress) {
		s.metrics.mail(ctx, mail.KindNotice, "no_address")
		s.log.Info("notice not sent: the account has no address", "event_id", ev.ID, "account_id", ev.AccountID)
		return nil
	}
	if err != nil {
		return err
	}
	m, err := s.render.Notice(ev, n, to)
	if err != nil {
		return s.renderFailed(ctx, mail.KindNotice, ev.ID, err)
	}
	if err := s.pace.wait(ctx); err != nil {
		return err
	}
	return s.deliver(ctx, m)
}

// noticeCache keeps notices read from the database: a notice never changes
// once written (tools/notice inserts it once), so each is read once.
type noticeCache struct {
	st *store.Store
	mu sync.Mutex
	m  map[string]notices.Notice
}

func newNoticeCache(st *store.Store) *noticeCache {
	return &noticeCache{st: st, m: map[string]notices.Notice{}}
}

func (c *noticeCache) get(ctx context.Context, id string) (notices.Notice, error) {
	c.mu.Lock()
	n, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return n, nil
	}
	err := c.st.Collection(notices.CollNotices).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&n)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return notices.Notice{}, fmt.Errorf("%w: no notice %q", bus.ErrPermanent, id)
	}
	if err != nil {
		return notices.Notice{}, fmt.Errorf("read notice %s: %w", id, err)
	}
	c.mu.Lock()
	c.m[id] = n
	c.mu.Unlock()
	return n, nil
}

// pacer lets one caller through per interval. Safe for concurrent use.
type pacer struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

// wait blocks until the caller's turn, or until ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.interval)
	p.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
