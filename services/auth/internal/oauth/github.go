package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// GitHubConfig configures sign-in with GitHub.
type GitHubConfig struct {
	ClientID, ClientSecret string
	// AuthURL and TokenURL default to github.com's; APIURL to
	// https://api.github.com.
	AuthURL, TokenURL, APIURL string
	RedirectURL               string
	HTTPClient                *http.Client
}

// GitHub signs in through GitHub's OAuth app flow and reads the person from
// GET /user and GET /user/emails.
type GitHub struct {
	oc     *oauth2.Config
	api    string
	client *http.Client
}

// NewGitHub returns the provider.
func NewGitHub(cfg GitHubConfig) *GitHub {
	if cfg.AuthURL == "" {
		cfg.AuthURL = "https://github.com/login/oauth/authorize"
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = "https://github.com/login/oauth/access_token"
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.github.com"
	}
	return &GitHub{
		oc: &oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL,
			Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
			Scopes:   []string{"read:user", "user:email"},
		},
		api:    strings.TrimSuffix(cfg.APIURL, "/"),
		client: httpClient(cfg.HTTPClient),
	}
}

// Name implements Provider.
func (g *GitHub) Name() string { return "github" }

// AuthURL implements Provider. GitHub has no nonce: state and PKCE bind the
// answer to this sign-in.
func (g *GitHub) AuthURL(_ context.Context, state, _, verifier string) (string, error) {
	return g.oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange implements Provider. The address used is the primary one if
// GitHub verified it, else the first verified one; none verified gives an
// unverified profile, which the caller refuses to link.
func (g *GitHub) Exchange(ctx context.Context, code, _, verifier string) (Profile, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, g.client)
	tok, err := g.oc.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Profile{}, fmt.Errorf("github: exchange code: %w: %w", ErrRefused, err)
	}
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := g.get(ctx, tok, "/user", &user); err != nil {
		return Profile{}, err
	}
	if user.ID == 0 {
		return Profile{}, fmt.Errorf("github: %w: user without id", ErrRefused)
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := g.get(ctx, tok, "/user/emails", &emails); err != nil {
		return Profile{}, err
	}
	p := Profile{Subject: strconv.FormatInt(user.ID, 10), Name: user.Name}
	if p.Name == "" {
		p.Name = user.Login
	}
	for _, e := range emails {
		if e.Verified && (e.Primary || !p.EmailVerified) {
			p.Email, p.EmailVerified = e.Email, true
			if e.Primary {
				break
			}
		}
	}
	if !p.EmailVerified {
		for _, e := range emails {
			if e.Primary {
				p.Email = e.Email
			}
		}
	}
	return p, nil
}

func (g *GitHub) get(ctx context.Context, tok *oauth2.Token, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.api+path, nil)
	if err != nil {
		return fmt.Errorf("github: %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("github: %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("github: %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("github: %s: %w: status %d", path, ErrRefused, resp.StatusCode)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("github: %s: %w: %w", path, ErrRefused, err)
	}
	return nil
}
