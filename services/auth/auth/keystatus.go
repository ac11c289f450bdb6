package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

// keyStatusTimeout bounds one suspension or restore (database and KV).
const keyStatusTimeout = 20 * time.Second

// maxAuditText bounds an operator's actor and reason.
const maxAuditText = 500

// answerKeyStatus subscribes to the operator's key suspensions and
// restores (events.SubjectKeyStatus; only the bus admin may ask) and
// answers each once it is recorded and written to KV apikeys. Every auth
// replica answers (queue group "auth"); requests are handled one at a
// time per replica, they are rare. The returned stop drains the
// subscription: a request being handled is finished first.
func (s *Service) answerKeyStatus(ctx context.Context) (stop func(), err error) {
	ctx = context.WithoutCancel(ctx)
	sub, err := s.bus.Conn().QueueSubscribe(events.SubjectKeyStatus, "auth", func(m *nats.Msg) {
		rep := s.keyStatus(ctx, m.Data)
		raw, err := json.Marshal(rep)
		if err != nil {
			return
		}
		if err := m.Respond(raw); err != nil {
			s.log.Warn("key status reply not sent", "key_id", rep.KeyID, "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", events.SubjectKeyStatus, err)
	}
	// A bus outage here is no reason to stop: the client subscribes again
	// when it reconnects.
	if err := s.bus.Conn().Flush(); err != nil {
		s.log.Warn("subscribe to key status requests: not confirmed yet", "err", err)
	}
	return func() {
		_ = sub.Drain()
		deadline := time.Now().Add(keyStatusTimeout)
		for sub.IsValid() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}, nil
}

// keyStatus carries out one request and says how it went.
func (s *Service) keyStatus(ctx context.Context, data []byte) events.KeyStatusReplyV1 {
	var req events.KeyStatusRequestV1
	rep := events.KeyStatusReplyV1{V: 1}
	if err := json.Unmarshal(data, &req); err != nil {
		rep.Code, rep.Error = events.CodeBadRequest, "a key status request is a JSON object"
		return rep
	}
	rep.KeyID = req.KeyID
	switch {
	case req.KeyID == "":
		rep.Code, rep.Error = events.CodeBadRequest, "key_id is required"
	case req.Actor == "" || utf8.RuneCountInString(req.Actor) > maxAuditText || utf8.RuneCountInString(req.Reason) > maxAuditText:
		rep.Code, rep.Error = events.CodeBadRequest, fmt.Sprintf("actor is required; actor and reason are at most %d characters", maxAuditText)
	case req.Action == events.KeyActionSuspend && req.Reason == "":
		rep.Code, rep.Error = events.CodeBadRequest, "a suspension needs a reason"
	case req.Action != events.KeyActionSuspend && req.Action != events.KeyActionRestore:
		rep.Code, rep.Error = events.CodeBadRequest, fmt.Sprintf("action must be %q or %q", events.KeyActionSuspend, events.KeyActionRestore)
	}
	if rep.Code != "" {
		return rep
	}
	ctx, cancel := context.WithTimeout(ctx, keyStatusTimeout)
	defer cancel()
	var (
		k       accounts.Key
		changed bool
		err     error
	)
	if req.Action == events.KeyActionSuspend {
		k, changed, err = s.acc.SuspendKey(ctx, req.KeyID, req.Actor, req.Reason)
	} else {
		k, changed, err = s.acc.RestoreKey(ctx, req.KeyID, req.Actor)
	}
	rep.AccountID, rep.Status, rep.Changed = k.AccountID, k.Status, changed
	switch {
	case err == nil:
		s.log.Info("key status changed by an operator", "key_id", req.KeyID, "action", req.Action, "actor", req.Actor, "status", k.Status, "changed", changed)
	case errors.Is(err, accounts.ErrNotFound):
		rep.Code, rep.Error = events.CodeKeyNotFound, "no key with id "+req.KeyID
	case errors.Is(err, accounts.ErrKeyRevoked):
		rep.Code, rep.Error = events.CodeKeyRevoked, "the key is revoked, for good: it is neither suspended nor restored"
	case errors.Is(err, accounts.ErrInvalid):
		rep.Code, rep.Error = events.CodeBadRequest, err.Error()
	default:
		s.log.Warn("key status request", "key_id", req.KeyID, "action", req.Action, "err", err)
		rep.Code, rep.Error = events.CodeUnavailable, "auth could not change the key; the request is safe to repeat"
	}
	return rep
}
