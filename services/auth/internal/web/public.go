package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Sign-in errors the page explains (from ?error= after a failed OAuth
// sign-in).
var signInMessages = map[string]string{
	"refused": "Sign-in was refused or cancelled. Please try again.",
	"expired": "Your session has ended. Please sign in again.",
}

func (p *Pages) signIn(c echo.Context) error {
	if ck, err := c.Cookie(SessionCookie); err == nil && ck.Value != "" {
		if _, _, err := p.acc.SessionUser(p.ctx(c), ck.Value); err == nil {
			return c.Redirect(http.StatusSeeOther, "/")
		}
	}
	return p.render(c, http.StatusOK, "signin", "Sign in", "", struct {
		Providers []string
		Message   string
	}{p.cfg.Providers, signInMessages[c.QueryParam("error")]})
}

// LinkPage is the page a sign-in link opens: a button that spends the link
// (so link scanners and previews that GET the URL sign no one in), or why
// the link cannot be used.
func (p *Pages) LinkPage(c echo.Context, status int, token, message string) error {
	return p.render(c, status, "link", "Sign in", "", struct{ Token, Message string }{token, message})
}

func (p *Pages) privacy(c echo.Context) error {
	return p.render(c, http.StatusOK, "privacy", "Privacy policy", "", nil)
}

func (p *Pages) underTheHood(c echo.Context) error {
	return p.render(c, http.StatusOK, "underthehood", "Under the hood", "", struct{ GatewayURL string }{p.cfg.GatewayURL})
}
