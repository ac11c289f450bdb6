package oauth

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// GoogleConfig configures sign-in with Google (any OpenID Connect issuer).
type GoogleConfig struct {
	ClientID, ClientSecret string
	// Issuer is https://accounts.google.com in production.
	Issuer      string
	RedirectURL string
	HTTPClient  *http.Client
}

// Google signs in through OpenID Connect. Discovery happens on first use
// (and is retried after a failure), so a start-up without network works.
type Google struct {
	cfg    GoogleConfig
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// NewGoogle returns the provider.
func NewGoogle(cfg GoogleConfig) *Google {
	return &Google{cfg: cfg, client: httpClient(cfg.HTTPClient)}
}

// Name implements Provider.
func (g *Google) Name() string { return "google" }

func (g *Google) discover(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.provider == nil {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, g.client), g.cfg.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("google: discovery at %s: %w", g.cfg.Issuer, err)
		}
		g.provider = p
	}
	ep := g.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return g.provider, &oauth2.Config{
		ClientID: g.cfg.ClientID, ClientSecret: g.cfg.ClientSecret, RedirectURL: g.cfg.RedirectURL,
		Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}, nil
}

// AuthURL implements Provider.
func (g *Google) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	_, oc, err := g.discover(ctx)
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange implements Provider. The ID token's signature, issuer, audience,
// expiry and nonce are checked.
func (g *Google) Exchange(ctx context.Context, code, nonce, verifier string) (Profile, error) {
	p, oc, err := g.discover(ctx)
	if err != nil {
		return Profile{}, err
	}
	ctx = oidc.ClientContext(ctx, g.client)
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Profile{}, fmt.Errorf("google: exchange code: %w: %w", ErrRefused, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Profile{}, fmt.Errorf("google: %w: no id_token", ErrRefused)
	}
	idt, err := p.VerifierContext(ctx, &oidc.Config{ClientID: g.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return Profile{}, fmt.Errorf("google: %w: %w", ErrRefused, err)
	}
	if idt.Nonce != nonce {
		return Profile{}, fmt.Errorf("google: %w: nonce mismatch", ErrRefused)
	}
	var c struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idt.Claims(&c); err != nil {
		return Profile{}, fmt.Errorf("google: %w: claims: %w", ErrRefused, err)
	}
	return Profile{Subject: idt.Subject, Email: c.Email, EmailVerified: c.EmailVerified, Name: c.Name}, nil
}
