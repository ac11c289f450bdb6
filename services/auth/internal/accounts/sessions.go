package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/pkg/store"
)

// Session is a signed-in browser. Only the token's hash is stored.
type Session struct {
	ID        string    `bson:"_id" json:"-"` // HashToken(token)
	AccountID string    `bson:"account_id" json:"-"`
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
	ExpiresAt time.Time `bson:"expires_at" json:"expires_at"`
}

// CreateSession starts a new session for a user and returns its token.
func (s *Store) CreateSession(ctx context.Context, accountID string) (string, Session, error) {
	tok := NewToken()
	now := s.now()
	sess := Session{ID: HashToken(tok), AccountID: accountID, CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	if _, err := s.st.Collection(CollSessions).InsertOne(ctx, sess); err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	return tok, sess, nil
}

// SessionUser returns the session of a token and its user, or
// ErrUnauthenticated if either is gone or the session has expired (the
// sweeper purges expired sessions later; they are refused at once).
func (s *Store) SessionUser(ctx context.Context, token string) (Session, User, error) {
	if token == "" {
		return Session{}, User{}, ErrUnauthenticated
	}
	var sess Session
	err := s.st.Collection(CollSessions).FindOne(ctx, bson.D{{Key: "_id", Value: HashToken(token)}}).Decode(&sess)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Session{}, User{}, ErrUnauthenticated
	}
	if err != nil {
		return Session{}, User{}, fmt.Errorf("find session: %w", err)
	}
	if !s.now().Before(sess.ExpiresAt) {
		return Session{}, User{}, ErrUnauthenticated
	}
	u, err := s.UserByID(ctx, sess.AccountID)
	if errors.Is(err, ErrNotFound) {
		return Session{}, User{}, ErrUnauthenticated
	}
	if err != nil {
		return Session{}, User{}, err
	}
	return sess, u, nil
}

// DeleteSession revokes a session server-side.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.st.Collection(CollSessions).DeleteOne(ctx, bson.D{{Key: "_id", Value: HashToken(token)}}); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// MagicLink is a pending e-mail sign-in. Only the token's hash is stored.
type MagicLink struct {
	ID        string    `bson:"_id" json:"-"` // HashToken(token)
	Email     string    `bson:"email" json:"email"`
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
	ExpiresAt time.Time `bson:"expires_at" json:"expires_at"`
}

// claim is the record whose unique insert decides that a one-time secret
// was used exactly once.
type claim struct {
	ID        string    `bson:"_id"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// RequestMagicLink stores a new link for an address and asks the notifier
// to mail it. It does the same work whether or not the address has an
// account, so its answer and timing tell nothing about that. linkBase is
// the URL the token is appended to (as ?token=).
func (s *Store) RequestMagicLink(ctx context.Context, email, linkBase string) error {
	tok := NewToken()
	now := s.now()
	l := MagicLink{ID: HashToken(tok), Email: email, CreatedAt: now, ExpiresAt: now.Add(MagicLinkTTL)}
	if _, err := s.st.Collection(CollMagicLinks).InsertOne(ctx, l); err != nil {
		return fmt.Errorf("store magic link: %w", err)
	}
	// The link (it holds the token) is sealed for the notifier: whoever
	// else reads the MAIL stream sees the address and the expiry only.
	ev, err := s.mailKey.SealMail(events.MailRequestedV1{
		V: 1, ID: ids.New("mail"), Time: now, AccountID: events.NoAccount, To: email,
		Template: events.MailMagicLink,
		Data: map[string]string{
			"expires_in": "15 minutes",
			"expires_at": l.ExpiresAt.Format(time.RFC3339),
		},
	}, map[string]string{"link": linkBase + "?token=" + tok})
	if err != nil {
		return fmt.Errorf("request magic link mail: %w", err)
	}
	if _, err := s.bus.Publish(ctx, ev); err != nil {
		return fmt.Errorf("request magic link mail: %w", err)
	}
	return nil
}

// SpendMagicLink uses a link once and returns its address. Of any number
// of concurrent calls with one token, exactly one succeeds: the unique
// insert of the claim decides.
func (s *Store) SpendMagicLink(ctx context.Context, token string) (string, error) {
	if token == "" || len(token) > 128 {
		return "", ErrLinkInvalid
	}
	h := HashToken(token)
	var l MagicLink
	err := s.st.Collection(CollMagicLinks).FindOne(ctx, bson.D{{Key: "_id", Value: h}}).Decode(&l)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", ErrLinkInvalid
	}
	if err != nil {
		return "", fmt.Errorf("find magic link: %w", err)
	}
	if !s.now().Before(l.ExpiresAt) {
		return "", ErrLinkInvalid
	}
	if err := s.claim(ctx, CollMagicLinkUses, h, l.ExpiresAt); err != nil {
		if errors.Is(err, errClaimed) {
			return "", ErrLinkInvalid
		}
		return "", err
	}
	if _, err := s.st.Collection(CollMagicLinks).DeleteOne(ctx, bson.D{{Key: "_id", Value: h}}); err != nil {
		s.log.Warn("delete spent magic link", "err", err) // the claim already makes it unusable
	}
	return l.Email, nil
}

var errClaimed = errors.New("already claimed")

// claim inserts id into coll; errClaimed if it was already there.
func (s *Store) claim(ctx context.Context, coll, id string, expires time.Time) error {
	// Kept a little past the secret's own expiry so the claim outlives it.
	_, err := s.st.Collection(coll).InsertOne(ctx, claim{ID: id, ExpiresAt: expires.Add(time.Hour)})
	if store.IsDuplicate(err) {
		return errClaimed
	}
	if err != nil {
		return fmt.Errorf("claim %s: %w", coll, err)
	}
	return nil
}

// OAuthState is a pending OAuth sign-in: what the callback needs to finish
// it (PKCE verifier, OIDC nonce) and which provider it was started for.
type OAuthState struct {
	ID        string    `bson:"_id"` // HashToken(state)
	Provider  string    `bson:"provider"`
	Verifier  string    `bson:"verifier"`
	Nonce     string    `bson:"nonce"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// StartOAuth stores a new state for provider and returns the state value
// (to send to the provider and to bind to the browser), the PKCE verifier
// and the nonce.
func (s *Store) StartOAuth(ctx context.Context, provider, verifier string) (state, nonce string, err error) {
	state, nonce = NewToken(), NewToken()
	st := OAuthState{ID: HashToken(state), Provider: provider, Verifier: verifier, Nonce: nonce, ExpiresAt: s.now().Add(OAuthTTL)}
	if _, err := s.st.Collection(CollOAuthStates).InsertOne(ctx, st); err != nil {
		return "", "", fmt.Errorf("store oauth state: %w", err)
	}
	return state, nonce, nil
}

// SpendOAuth uses a state once, for the provider it was issued for only.
func (s *Store) SpendOAuth(ctx context.Context, provider, state string) (OAuthState, error) {
	if state == "" || len(state) > 128 {
		return OAuthState{}, ErrStateInvalid
	}
	h := HashToken(state)
	var st OAuthState
	err := s.st.Collection(CollOAuthStates).FindOne(ctx, bson.D{{Key: "_id", Value: h}}).Decode(&st)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return OAuthState{}, ErrStateInvalid
	}
	if err != nil {
		return OAuthState{}, fmt.Errorf("find oauth state: %w", err)
	}
	if st.Provider != provider || !s.now().Before(st.ExpiresAt) {
		return OAuthState{}, ErrStateInvalid
	}
	if err := s.claim(ctx, CollOAuthStateUses, h, st.ExpiresAt); err != nil {
		if errors.Is(err, errClaimed) {
			return OAuthState{}, ErrStateInvalid
		}
		return OAuthState{}, err
	}
	_, _ = s.st.Collection(CollOAuthStates).DeleteOne(ctx, bson.D{{Key: "_id", Value: h}})
	return st, nil
}
