// Package oauth signs people in with Google (OpenID Connect) and GitHub
// (OAuth 2.0 plus its REST API), both with PKCE (S256). It returns who the
// provider says the person is and whether the provider verified their
// e-mail address; the caller decides what to do with that.
package oauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// Profile is what a provider tells about the person who signed in.
type Profile struct {
	Subject       string // the provider's stable user id
	Email         string
	EmailVerified bool
	Name          string
}

// Provider is one sign-in provider.
type Provider interface {
	// Name is "google" or "github".
	Name() string
	// AuthURL is where to send the browser to sign in.
	AuthURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Exchange turns the callback's code into a profile, checking the
	// PKCE verifier (at the provider) and, for OIDC, the nonce.
	Exchange(ctx context.Context, code, nonce, verifier string) (Profile, error)
}

// ErrRefused is a provider answer that does not prove who the person is.
var ErrRefused = errors.New("the provider's answer was refused")

// NewVerifier returns a PKCE code verifier.
func NewVerifier() string { return oauth2.GenerateVerifier() }

func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 15 * time.Second}
}
