package auth

import (
	"context"
	"fmt"
	"net/http"

	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
	"github.com/onekey-oss/onekey/services/auth/internal/httpapi"
)

// SeededAccount is an account opened by SeedAccount, with the one time its
// new API key is shown.
type SeededAccount struct {
	AccountID string
	ProjectID string
	KeyID     string
	Key       string
}

// SeedAccount opens the account of email as a first sign-in would (the
// user, its default project, account.created for the ledger, free requests
// once per address) and makes it a new API key named keyName in the default
// project, stored and written to KV apikeys by auth like any other key, so
// that auth's startup sync keeps it. It is for development tools such as
// devstack; calling it again for the same address makes another key.
func (s *Service) SeedAccount(ctx context.Context, email, keyName string) (SeededAccount, error) {
	email, err := accounts.NormalizeEmail(email)
	if err != nil {
		return SeededAccount{}, fmt.Errorf("seed account: %w", err)
	}
	u, err := s.acc.UserForEmail(ctx, email, "")
	if err != nil {
		return SeededAccount{}, fmt.Errorf("seed account %s: %w", email, err)
	}
	key, k, err := s.acc.CreateKey(ctx, u.ID, accounts.DefaultProjectID(u.ID), keyName, accounts.KeyLimits{})
	if err != nil {
		return SeededAccount{}, fmt.Errorf("seed account %s: key: %w", email, err)
	}
	return SeededAccount{AccountID: u.ID, ProjectID: k.ProjectID, KeyID: k.ID, Key: key}, nil
}

// SeedSession signs accountID in as a browser would after a sign-in and
// returns the session cookie that browser would hold (its CSRF token is in
// GET /api/me). It is for development tools and tests that drive the
// account API as the account's user.
func (s *Service) SeedSession(ctx context.Context, accountID string) (*http.Cookie, error) {
	tok, sess, err := s.acc.CreateSession(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("seed session of %s: %w", accountID, err)
	}
	return &http.Cookie{Name: httpapi.SessionCookie, Value: tok, Path: "/", Expires: sess.ExpiresAt}, nil
}
