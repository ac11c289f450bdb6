package httpapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
	"github.com/onekey-oss/onekey/services/auth/internal/oauth"
)

// MagicLinkAccepted is the one answer to a magic-link request, whether or
// not the address has an account.
const MagicLinkAccepted = "If this address can sign in, a sign-in link is on its way. It works once, for 15 minutes."

// requestMagicLink does the same work for every well-formed address (it
// never looks the address up: the account is found or made when the link
// is spent), so neither its answer nor its timing tells whether the address
// has an account.
func (a *API) requestMagicLink(c echo.Context) error {
	var body struct {
		Email string `json:"email" form:"email"`
	}
	if err := c.Bind(&body); err != nil {
		return fail(http.StatusBadRequest, "invalid_request", "send {\"email\": \"...\"}")
	}
	email, err := accounts.NormalizeEmail(body.Email)
	if err != nil {
		a.metrics.linkRequest(c.Request().Context(), "invalid")
		return err
	}
	if !a.allowLink(accounts.HashToken(email), c.RealIP()) {
		c.Response().Header().Set("Retry-After", "900")
		a.metrics.linkRequest(c.Request().Context(), "rate_limited")
		return fail(http.StatusTooManyRequests, "rate_limited", "too many sign-in requests; try again later")
	}
	link := strings.TrimSuffix(a.cfg.PublicURL, "/") + "/api/auth/magic-link/verify"
	if err := a.acc.RequestMagicLink(c.Request().Context(), email, link); err != nil {
		return err
	}
	a.metrics.linkRequest(c.Request().Context(), "sent")
	return c.JSON(http.StatusAccepted, map[string]string{"status": "sent", "message": MagicLinkAccepted})
}

// allowLink applies the magic-link limits to a request for address (its
// hash) from ip; a refused request counts against none of them. The IP's
// limit comes first, so requests it refuses use up nothing of the
// address's. The address is then limited per client IP, so that someone
// within their own IP's limit cannot keep its owner, elsewhere, from
// signing in; and from all IPs together only by a higher cap, against
// mail flooding. Links already sent stay valid whatever is refused.
func (a *API) allowLink(address, ip string) bool {
	pair := address + " " + ip
	switch {
	case !a.perIP.Allow(ip):
		return false
	case !a.perAddrIP.Allow(pair):
		a.perIP.Cancel(ip)
		return false
	case !a.perAddr.Allow(address):
		a.perIP.Cancel(ip)
		a.perAddrIP.Cancel(pair)
		return false
	}
	return true
}

const linkPageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>Sign in to onekey</title></head>
<body style="font-family:system-ui,sans-serif;max-width:30em;margin:4em auto;text-align:center">
<h1>Sign in to onekey</h1>
{{if .Token}}<form method="post" action="/api/auth/magic-link/verify">
<input type="hidden" name="token" value="{{.Token}}">
<button type="submit" style="font-size:1.2em;padding:.5em 2em">Sign in</button>
</form>
<p>This link works once and expires 15 minutes after it was sent.</p>
{{else}}<p>{{.Message}}</p><p><a href="{{.Home}}">Request a new link</a></p>{{end}}
</body></html>`

type pageData struct{ Token, Message, Home string }

// magicLinkPage shows a button that spends the link. Link scanners and
// previews that GET the URL do not sign anyone in, nor use the link up.
func (a *API) magicLinkPage(c echo.Context) error {
	tok := c.QueryParam("token")
	if tok == "" || len(tok) > 128 {
		return a.page(c, http.StatusBadRequest, pageData{Message: accounts.ErrLinkInvalid.Error()})
	}
	return a.page(c, http.StatusOK, pageData{Token: tok})
}

func (a *API) page(c echo.Context, status int, d pageData) error {
	if a.pages != nil {
		return a.pages.LinkPage(c, status, d.Token, d.Message)
	}
	d.Home = a.cfg.AppURL
	var b strings.Builder
	if err := a.linkPage.Execute(&b, d); err != nil {
		return err
	}
	return c.HTML(status, b.String())
}

// spendMagicLink signs in with a link: from the page's form (answered with
// a redirect to the app) or as JSON {"token"} (answered with JSON).
func (a *API) spendMagicLink(c echo.Context) error {
	var body struct {
		Token string `json:"token" form:"token"`
	}
	if err := c.Bind(&body); err != nil {
		return fail(http.StatusBadRequest, "invalid_request", "send the token")
	}
	jsonClient := strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON)
	email, err := a.acc.SpendMagicLink(c.Request().Context(), body.Token)
	if errors.Is(err, accounts.ErrLinkInvalid) {
		a.metrics.refused(c.Request().Context(), "magic_link", "link_invalid")
	}
	if errors.Is(err, accounts.ErrLinkInvalid) && !jsonClient {
		return a.page(c, http.StatusBadRequest, pageData{Message: err.Error()})
	}
	if err != nil {
		return err
	}
	u, err := a.acc.UserForEmail(c.Request().Context(), email, "")
	if err != nil {
		return err
	}
	return a.signedIn(c, u, "magic_link", jsonClient)
}

func (a *API) signedIn(c echo.Context, u accounts.User, method string, jsonClient bool) error {
	tok, err := a.startSession(c, u)
	if err != nil {
		return err
	}
	a.metrics.signIn(c.Request().Context(), method)
	if jsonClient {
		return c.JSON(http.StatusOK, Me{User: u, DefaultProjectID: accounts.DefaultProjectID(u.ID), CSRFToken: CSRFToken(tok)})
	}
	return c.Redirect(http.StatusSeeOther, a.landing(u, method))
}

// landing is where a browser goes after signing in: the app, with
// ?signed_up=<method> when this sign-in made the account (the dashboard's
// analytics count sign-ups by method, with the visitor's consent only).
func (a *API) landing(u accounts.User, method string) string {
	if !a.cfg.MarkSignUps || !u.Created {
		return a.cfg.AppURL
	}
	to, err := url.Parse(a.cfg.AppURL)
	if err != nil {
		return a.cfg.AppURL
	}
	if method == "magic_link" {
		method = "email"
	}
	q := to.Query()
	q.Set("signed_up", method)
	to.RawQuery = q.Encode()
	return to.String()
}

func (a *API) provider(c echo.Context) (oauth.Provider, error) {
	p, ok := a.providers[c.Param("provider")]
	if !ok {
		return nil, accounts.ErrNotFound
	}
	return p, nil
}

// oauthStart sends the browser to the provider with a fresh state (also
// bound to this browser by a cookie), a PKCE challenge and, for OIDC, a
// nonce.
func (a *API) oauthStart(c echo.Context) error {
	p, err := a.provider(c)
	if err != nil {
		return err
	}
	if !a.oauthIP.Allow(c.RealIP()) {
		c.Response().Header().Set("Retry-After", "900")
		return fail(http.StatusTooManyRequests, "rate_limited", "too many sign-in attempts; try again later")
	}
	verifier := oauth.NewVerifier()
	state, nonce, err := a.acc.StartOAuth(c.Request().Context(), p.Name(), verifier)
	if err != nil {
		return err
	}
	u, err := p.AuthURL(c.Request().Context(), state, nonce, verifier)
	if err != nil {
		return err
	}
	c.SetCookie(secureCookie(OAuthCookie, state, accounts.OAuthTTL))
	return c.Redirect(http.StatusFound, u)
}

// oauthCallback finishes a sign-in. It refuses a state not bound to this
// browser, not issued for this provider, expired or used; a provider
// error; and an address the provider has not verified.
func (a *API) oauthCallback(c echo.Context) error {
	p, err := a.provider(c)
	if err != nil {
		return err
	}
	c.SetCookie(clearCookie(OAuthCookie))
	state := c.QueryParam("state")
	ctx := c.Request().Context()
	ck, err := c.Cookie(OAuthCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		a.metrics.refused(ctx, p.Name(), "state_invalid")
		return accounts.ErrStateInvalid
	}
	st, err := a.acc.SpendOAuth(ctx, p.Name(), state)
	if errors.Is(err, accounts.ErrStateInvalid) {
		a.metrics.refused(ctx, p.Name(), "state_invalid")
	}
	if err != nil {
		return err
	}
	if c.QueryParam("error") != "" || c.QueryParam("code") == "" {
		a.metrics.refused(ctx, p.Name(), "provider")
		return oauth.ErrRefused
	}
	prof, err := p.Exchange(ctx, c.QueryParam("code"), st.Nonce, st.Verifier)
	if err != nil {
		if errors.Is(err, oauth.ErrRefused) {
			a.metrics.refused(ctx, p.Name(), "provider")
			a.log.Info("oauth sign-in refused", "provider", p.Name(), "err", err)
		}
		return err
	}
	u, err := a.acc.UserForIdentity(ctx, p.Name(), prof.Subject, prof.Email, prof.EmailVerified, prof.Name)
	if errors.Is(err, accounts.ErrInvalid) {
		a.metrics.refused(ctx, p.Name(), "unverified")
		return fail(http.StatusBadRequest, "sign_in_refused", "the provider has not verified this e-mail address")
	}
	if err != nil {
		return err
	}
	return a.signedIn(c, u, p.Name(), false)
}

// listProviders tells the sign-in page which methods are on.
func (a *API) listProviders(c echo.Context) error {
	out := []string{"email"}
	for _, name := range []string{"google", "github"} {
		if _, ok := a.providers[name]; ok {
			out = append(out, name)
		}
	}
	return c.JSON(http.StatusOK, map[string][]string{"providers": out})
}
