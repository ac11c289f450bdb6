// Package web is the dashboard: server-rendered HTML pages on the account
// API's origin (so the __Host- session cookie and the API's CSRF rules
// apply unchanged), with a little JavaScript that sends forms to the JSON
// API under /api/. Pages read through the same accounts functions the API
// uses; every change a page makes goes through the documented API.
//
// Templates and static files are embedded: no Node toolchain, no third-
// party origin. The Content-Security-Policy allows scripts, styles and
// connections from 'self' only, with no inline script or style.
package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP is the dashboard's Content-Security-Policy: nothing from another
// origin, no inline script or style, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// SessionCookie is the API's session cookie (httpapi.SessionCookie).
const SessionCookie = "__Host-onekey_session"

// cacheAccounts is how many accounts' ledger views are cached.
const cacheAccounts = 256

// Config is what the pages show that is not per user.
type Config struct {
	// GatewayURL is the gateway's public base URL for the quickstart
	// (without /v1).
	GatewayURL string
	// OperatorName and OperatorContact name who runs this deployment on
	// the public pages and in the footer.
	OperatorName    string
	OperatorContact string
	// Providers are the sign-in methods besides e-mail that are on
	// ("google", "github").
	Providers []string
	// CheckoutMin and CheckoutMax bound one card top-up.
	CheckoutMin, CheckoutMax money.Micros
	// CSRFToken derives a session's CSRF token (httpapi.CSRFToken).
	CSRFToken func(sessionToken string) string
	// Analytics, off by default, load only after consent (analytics.go).
	Analytics Analytics
	// Assistant shows the assistant's panel on signed-in pages.
	Assistant bool
}

// Pages serves the dashboard.
type Pages struct {
	cfg    Config
	acc    *accounts.Store
	log    *slog.Logger
	pages  map[string]*template.Template
	static map[string]asset
	cache  *viewCache
	// assetVersion is a hash of the static files: their URLs carry it, so
	// they can be cached for ever.
	assetVersion string
}

type asset struct {
	body, gz []byte
	ctype    string
}

// New parses the templates and loads the static files.
func New(cfg Config, acc *accounts.Store, log *slog.Logger) (*Pages, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OperatorName == "" {
		cfg.OperatorName = "the operator of this onekey deployment"
	}
	if cfg.CheckoutMin <= 0 {
		cfg.CheckoutMin = 5 * money.Dollar
	}
	if cfg.CheckoutMax < cfg.CheckoutMin {
		cfg.CheckoutMax = 1000 * money.Dollar
	}
	if cfg.Analytics.TagURL == "" {
		cfg.Analytics.TagURL = DefaultTagURL
	}
	if cfg.Analytics.CookiebotURL == "" {
		cfg.Analytics.CookiebotURL = DefaultCookiebotURL
	}
	p := &Pages{cfg: cfg, acc: acc, log: log, pages: map[string]*template.Template{}, static: map[string]asset{}, cache: newViewCache(cacheAccounts)}
	h := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(name)
		if err != nil {
			return err
		}
		h.Write(body)
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		p.static[strings.TrimPrefix(name, "static/")] = asset{body: body, gz: gz.Bytes(), ctype: contentType(name)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	p.assetVersion = hex.EncodeToString(h.Sum(nil)[:6])
	layout, err := templateFS.ReadFile("templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	// Partials (_name.html) define templates every page may use.
	var partials []string
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			body, err := templateFS.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("web: %w", err)
			}
			partials = append(partials, string(body))
		}
	}
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		body, err := templateFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		t, err := template.New("layout").Funcs(funcs()).Parse(string(layout))
		for _, part := range partials {
			if err == nil {
				_, err = t.Parse(part)
			}
		}
		if err == nil {
			_, err = t.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		p.pages[base] = t
	}
	return p, nil
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// Register mounts the pages on e. The API's routes (/api/...) are
// registered by the API itself.
func (p *Pages) Register(e *echo.Echo) {
	e.GET("/static/:version/:file", p.serveStatic)
	e.GET("/sign-in", p.signIn)
	e.GET("/privacy", p.privacy)
	e.GET("/under-the-hood", p.underTheHood)
	e.GET("/", p.signedIn(p.overview))
	e.GET("/keys", p.signedIn(p.keys))
	e.GET("/usage", p.signedIn(p.usage))
	e.GET("/usage.csv", p.signedIn(p.usageCSV))
	e.GET("/billing", p.signedIn(p.billing))
	e.GET("/settings", p.signedIn(p.settings))
}

func (p *Pages) serveStatic(c echo.Context) error {
	a, ok := p.static[c.Param("file")]
	if !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Vary", "Accept-Encoding")
	if c.Param("version") == p.assetVersion {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	body := a.body
	if strings.Contains(c.Request().Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	return c.Blob(http.StatusOK, a.ctype, body)
}

// viewer is the signed-in person a page is rendered for.
type viewer struct {
	User accounts.User
	CSRF string
}

const ctxViewer = "onekey.web.viewer"

// signedIn renders h for a signed-in person and sends anyone else to the
// sign-in page.
func (p *Pages) signedIn(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(SessionCookie)
		if err != nil || ck.Value == "" {
			return c.Redirect(http.StatusSeeOther, "/sign-in")
		}
		_, u, err := p.acc.SessionUser(c.Request().Context(), ck.Value)
		if errors.Is(err, accounts.ErrUnauthenticated) {
			return c.Redirect(http.StatusSeeOther, "/sign-in")
		}
		if err != nil {
			return err
		}
		v := viewer{User: u}
		if p.cfg.CSRFToken != nil {
			v.CSRF = p.cfg.CSRFToken(ck.Value)
		}
		c.Set(ctxViewer, v)
		return h(c)
	}
}

func viewerOf(c echo.Context) viewer {
	v, _ := c.Get(ctxViewer).(viewer)
	return v
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string // the active navigation item
	Viewer *viewer
	Static string // prefix of static URLs, with the asset version
	Op     Config
	Year   int
	Data   any
	// Analytics: the consent banner and, after consent, the tag.
	Analytics analyticsView
}

// render writes a page, gzipped when the browser takes it.
func (p *Pages) render(c echo.Context, status int, name, title, nav string, data any) error {
	t, ok := p.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	pg := page{Title: title, Nav: nav, Static: "/static/" + p.assetVersion, Op: p.cfg, Year: time.Now().Year(), Data: data}
	if v, ok := c.Get(ctxViewer).(viewer); ok {
		pg.Viewer = &v
	}
	pg.Analytics = p.analyticsFor(c, name)
	p.clearAnalyticsCookies(c)
	var buf bytes.Buffer
	if err := t.Execute(&buf, pg); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	return p.write(c, status, "text/html; charset=utf-8", buf.Bytes())
}

func (p *Pages) write(c echo.Context, status int, ctype string, body []byte) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", p.csp(c.Request()))
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept-Encoding")
	if len(body) > 1024 && strings.Contains(c.Request().Header.Get("Accept-Encoding"), "gzip") {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		_, _ = zw.Write(body)
		_ = zw.Close()
		h.Set("Content-Encoding", "gzip")
		body = gz.Bytes()
	}
	return c.Blob(status, ctype, body)
}

// ErrorPage renders an error for a page request (the API's error handler
// calls it for paths IsPage accepts).
func (p *Pages) ErrorPage(c echo.Context, status int, code, msg string) {
	if status == http.StatusNotFound {
		msg = "There is no page at this address."
	}
	_ = p.render(c, status, "error", http.StatusText(status), "", struct {
		Status        int
		Code, Message string
	}{status, code, msg})
}

func (p *Pages) ctx(c echo.Context) context.Context { return c.Request().Context() }
