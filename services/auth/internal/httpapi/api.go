// Package httpapi is the account API the dashboard uses: JSON under /api/,
// served with echo. It authenticates browsers by a session cookie, defends
// state-changing requests against CSRF, and checks on every route that the
// object asked for belongs to the caller (another user's object is a 404,
// the same answer as a missing one).
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/metric"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
	"github.com/onekey-oss/onekey/services/auth/internal/oauth"
	"github.com/onekey-oss/onekey/services/auth/internal/ratelimit"
)

// Cookie names. The __Host- prefix makes browsers accept the cookie only
// with Secure, Path=/ and no Domain, so no subdomain can set or read it.
const (
	SessionCookie = "__Host-onekey_session"
	OAuthCookie   = "__Host-onekey_oauth"
	// CSRFHeader carries the session's CSRF token on state-changing requests.
	CSRFHeader = "X-CSRF-Token"
)

// Config is the API's behaviour.
type Config struct {
	// PublicURL is the origin browsers use to reach the API
	// (https://app.example.com); links, redirects and the CSRF origin check
	// derive from it.
	PublicURL string
	// AppURL is where a browser goes after signing in (PublicURL + "/" by
	// default).
	AppURL string
	// TrustProxy takes the client IP from X-Forwarded-For (behind a proxy
	// that sets it); otherwise the connection's address is used.
	TrustProxy bool
	// Magic-link requests allowed in MagicWindow per address from one
	// client IP, per client IP, and per address from all IPs together (a
	// higher cap, against mail flooding).
	MagicPerAddress int
	MagicPerIP      int
	MagicAddressCap int
	MagicWindow     time.Duration
	// MarkSignUps sends a browser whose sign-in made its account to
	// AppURL?signed_up=<email|google|github>, for the dashboard's
	// consent-based analytics (on only when analytics are configured).
	MarkSignUps bool
}

// Checkout asks payments for a card checkout.
type Checkout interface {
	Checkout(ctx context.Context, req events.CheckoutRequestV1) (events.CheckoutReplyV1, error)
}

// Crypto asks payments about crypto payments: supported chains, wallet
// links and claims. Each method returns an error only when payments did
// not answer; a refusal is in the reply's Code.
type Crypto interface {
	Info(ctx context.Context, req events.CryptoInfoRequestV1) (events.CryptoInfoReplyV1, error)
	Status(ctx context.Context, req events.CryptoStatusRequestV1) (events.CryptoStatusReplyV1, error)
	Nonce(ctx context.Context, req events.WalletNonceRequestV1) (events.WalletNonceReplyV1, error)
	Link(ctx context.Context, req events.WalletLinkRequestV1) (events.WalletLinkReplyV1, error)
	Claim(ctx context.Context, req events.CryptoClaimRequestV1) (events.CryptoClaimReplyV1, error)
}

// Deps are what the API is built from.
type Deps struct {
	Accounts  *accounts.Store
	Providers []oauth.Provider
	Checkout  Checkout
	Crypto    Crypto
	Logger    *slog.Logger
	Now       func() time.Time
	// MeterProvider for the API's metrics; nil records none.
	MeterProvider metric.MeterProvider
	// Pages is the dashboard served beside the API (nil: API only).
	Pages Pages
	// Assistant answers questions on the dashboard (nil: off).
	Assistant Assistant
}

// Pages is the dashboard: HTML pages on the API's origin.
type Pages interface {
	// Register mounts the pages' routes (none under /api/).
	Register(e *echo.Echo)
	// LinkPage renders the page a sign-in link opens.
	LinkPage(c echo.Context, status int, token, message string) error
	// ErrorPage renders an error (the API's code and message) for a browser.
	ErrorPage(c echo.Context, status int, code, msg string)
}

// API is the account API.
type API struct {
	cfg       Config
	acc       *accounts.Store
	providers map[string]oauth.Provider
	checkout  Checkout
	crypto    Crypto
	log       *slog.Logger
	origin    string
	perAddrIP *ratelimit.Limiter
	perAddr   *ratelimit.Limiter
	perIP     *ratelimit.Limiter
	oauthIP   *ratelimit.Limiter
	cryptoAcc *ratelimit.Limiter
	linkPage  *template.Template
	pages     Pages
	assistant Assistant
	now       func() time.Time
	metrics   metrics
	echo      *echo.Echo
}

// New builds the API and its routes.
func New(cfg Config, d Deps) (*API, error) {
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, errors.New("httpapi: PublicURL must be an absolute URL")
	}
	if cfg.AppURL == "" {
		cfg.AppURL = strings.TrimSuffix(cfg.PublicURL, "/") + "/"
	}
	if cfg.MagicWindow <= 0 {
		cfg.MagicWindow = 15 * time.Minute
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{
		cfg: cfg, acc: d.Accounts, checkout: d.Checkout, crypto: d.Crypto, log: log, pages: d.Pages,
		assistant: d.Assistant, now: d.Now,
		origin:    u.Scheme + "://" + u.Host,
		providers: map[string]oauth.Provider{},
		perAddrIP: ratelimit.New(cfg.MagicPerAddress, cfg.MagicWindow, d.Now),
		perAddr:   ratelimit.New(cfg.MagicAddressCap, cfg.MagicWindow, d.Now),
		perIP:     ratelimit.New(cfg.MagicPerIP, cfg.MagicWindow, d.Now),
		// OAuth starts store a state each: bound them per IP like links.
		oauthIP: ratelimit.New(2*cfg.MagicPerIP, cfg.MagicWindow, d.Now),
		// Each crypto write stores something in payments, and each claim
		// has chainwatcher query a chain until it is settled: bounded per
		// account.
		cryptoAcc: ratelimit.New(CryptoWritesPerHour, time.Hour, d.Now),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.metrics, err = newMetrics(d.MeterProvider); err != nil {
		return nil, err
	}
	if a.linkPage, err = template.New("link").Parse(linkPageHTML); err != nil {
		return nil, fmt.Errorf("httpapi: link page: %w", err)
	}
	for _, p := range d.Providers {
		a.providers[p.Name()] = p
	}
	a.routes()
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.echo.ServeHTTP(w, r) }

func (a *API) routes() {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.handleError
	e.IPExtractor = echo.ExtractIPDirect()
	if a.cfg.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	e.Use(a.logRequests, middleware.BodyLimit("64K"), securityHeaders, a.sameOrigin)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })

	pub := e.Group("/api/auth")
	pub.POST("/magic-link", a.requestMagicLink)
	pub.GET("/magic-link/verify", a.magicLinkPage)
	pub.POST("/magic-link/verify", a.spendMagicLink)
	pub.GET("/providers", a.listProviders)
	pub.GET("/:provider/start", a.oauthStart)
	pub.GET("/:provider/callback", a.oauthCallback)

	api := e.Group("/api", a.authenticate)
	api.POST("/auth/sign-out", a.signOut)
	api.GET("/me", a.me)
	api.PATCH("/me", a.renameMe)
	api.GET("/projects", a.listProjects)
	api.POST("/projects", a.createProject)
	api.PATCH("/projects/:project", a.renameProject)
	api.DELETE("/projects/:project", a.deleteProject)
	api.GET("/projects/:project/keys", a.listKeys)
	api.POST("/projects/:project/keys", a.createKey)
	api.PATCH("/projects/:project/keys/:key", a.updateKey)
	api.DELETE("/projects/:project/keys/:key", a.revokeKey)
	api.GET("/balance", a.balance)
	api.GET("/usage", a.usage)
	api.POST("/credits/checkout", a.createCheckout)
	api.GET("/crypto", a.cryptoOverview)
	api.POST("/crypto/wallets/nonce", a.walletNonce)
	api.POST("/crypto/wallets", a.linkWallet)
	api.POST("/crypto/claims", a.claimTx)
	api.GET("/crypto/claims/:claim", a.cryptoClaim)
	api.GET("/account/export", a.export)
	api.DELETE("/account", a.deleteAccount)
	a.dashboardRoutes(api)
	a.assistantRoutes(api)
	if a.pages != nil {
		a.pages.Register(e)
	}
	a.echo = e
}

// apiError is the one error shape of the API.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func errorBody(code, msg string) apiError {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	return e
}

// httpError is an answer a handler chose itself.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, code, msg string) error { return &httpError{status, code, msg} }

// handleError maps errors to the wire; nothing but our own messages leaks.
func (a *API) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := http.StatusInternalServerError, errorBody("internal", "something went wrong on our side")
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status, body = he.status, errorBody(he.code, he.msg)
	case errors.Is(err, accounts.ErrNotFound):
		status, body = http.StatusNotFound, errorBody("not_found", "not found")
	case errors.Is(err, accounts.ErrUnauthenticated):
		status, body = http.StatusUnauthorized, errorBody("unauthenticated", "sign in first")
	case errors.Is(err, accounts.ErrInvalid):
		status, body = http.StatusBadRequest, errorBody("invalid_request", strings.TrimPrefix(err.Error(), accounts.ErrInvalid.Error()+": "))
	case errors.Is(err, accounts.ErrLinkInvalid):
		status, body = http.StatusBadRequest, errorBody("link_invalid", accounts.ErrLinkInvalid.Error())
	case errors.Is(err, accounts.ErrStateInvalid), errors.Is(err, oauth.ErrRefused):
		status, body = http.StatusBadRequest, errorBody("sign_in_refused", "sign-in was refused; please start again")
	case errors.As(err, &ee):
		status = ee.Code
		body = errorBody(strings.ReplaceAll(strings.ToLower(http.StatusText(ee.Code)), " ", "_"), http.StatusText(ee.Code))
	}
	if status >= 500 && he == nil {
		a.log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if a.pages != nil && browserPath(c.Request()) {
		a.pages.ErrorPage(c, status, body.Error.Code, body.Error.Message)
		return
	}
	_ = c.JSON(status, body)
}

// logRequests logs the route pattern, never the URL: a magic link's token
// is in its query.
func (a *API) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		route := c.Path()
		if route == "" || route == "/*" || route == "/api/*" {
			route = "unmatched" // never the raw URL: it may hold a token
		}
		a.metrics.request(c.Request().Context(), c.Request().Method, route, c.Response().Status, d)
		a.log.Debug("request", "method", c.Request().Method, "route", route, "status", c.Response().Status, "duration", d)
		return nil
	}
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// A sign-in link's token is in its URL: never send it to another
		// origin. (Not no-referrer: under that policy browsers send
		// "Origin: null" on the link page's own form POST, which the
		// same-origin check would then refuse.)
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		return next(c)
	}
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// sameOrigin is the first CSRF defence, for every state-changing request
// (signed in or not, which covers login CSRF on the magic-link form): a
// browser request from another site is refused by its Sec-Fetch-Site or
// Origin header. Signed-in requests also need the session's CSRF token
// (see authenticate).
func (a *API) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if unsafeMethod(r.Method) {
			site := r.Header.Get("Sec-Fetch-Site")
			if site == "cross-site" || site == "same-site" {
				return fail(http.StatusForbidden, "csrf", "cross-site request refused")
			}
			// "Origin: null" is what privacy settings may send on a
			// same-origin form POST; the fetch metadata vouches for it.
			if o := r.Header.Get("Origin"); o != "" && o != a.origin && (o != "null" || site != "same-origin") {
				return fail(http.StatusForbidden, "csrf", "cross-origin request refused")
			}
		}
		return next(c)
	}
}

// Routes lists the API's routes as "METHOD /path/{param}", for checking
// them against the OpenAPI document.
func (a *API) Routes() []string {
	var out []string
	for _, r := range a.echo.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") || strings.HasPrefix(r.Method, "echo_") {
			continue
		}
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		out = append(out, r.Method+" "+strings.Join(parts, "/"))
	}
	return out
}
