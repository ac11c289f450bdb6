package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

const (
	ctxUser    = "onekey.user"
	ctxToken   = "onekey.session"
	ctxSession = "onekey.session.record"
)

// CSRFToken is the CSRF token of a session: an HMAC of a fixed label keyed
// by the session token. It is never stored; a page from another origin
// cannot read it (it is only in /api/me's answer), and it changes with
// every session.
func CSRFToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("onekey csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// authenticate requires a live session and, for state-changing requests,
// the session's CSRF token in the X-CSRF-Token header.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(SessionCookie)
		if err != nil {
			return accounts.ErrUnauthenticated
		}
		sess, u, err := a.acc.SessionUser(c.Request().Context(), ck.Value)
		if err != nil {
			return err
		}
		if unsafeMethod(c.Request().Method) {
			got := c.Request().Header.Get(CSRFHeader)
			if subtle.ConstantTimeCompare([]byte(got), []byte(CSRFToken(ck.Value))) != 1 {
				return fail(http.StatusForbidden, "csrf", "missing or wrong "+CSRFHeader+" header")
			}
		}
		c.Set(ctxUser, u)
		c.Set(ctxToken, ck.Value)
		c.Set(ctxSession, sess)
		return next(c)
	}
}

func user(c echo.Context) accounts.User { return c.Get(ctxUser).(accounts.User) }

func secureCookie(name, value string, maxAge time.Duration) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		MaxAge: int(maxAge / time.Second), Expires: time.Now().Add(maxAge),
	}
}

func clearCookie(name string) *http.Cookie {
	return &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1, Expires: time.Unix(0, 0)}
}

// startSession signs a user in: a new session (never a reused one) in a
// fresh cookie.
func (a *API) startSession(c echo.Context, u accounts.User) (string, error) {
	tok, _, err := a.acc.CreateSession(c.Request().Context(), u.ID)
	if err != nil {
		return "", err
	}
	c.SetCookie(secureCookie(SessionCookie, tok, accounts.SessionTTL))
	return tok, nil
}

func (a *API) signOut(c echo.Context) error {
	if err := a.acc.DeleteSession(c.Request().Context(), c.Get(ctxToken).(string)); err != nil {
		return err
	}
	c.SetCookie(clearCookie(SessionCookie))
	return c.NoContent(http.StatusNoContent)
}

// Me is the signed-in person.
type Me struct {
	accounts.User
	DefaultProjectID string `json:"default_project_id"`
	CSRFToken        string `json:"csrf_token"`
}

func (a *API) me(c echo.Context) error {
	u := user(c)
	return c.JSON(http.StatusOK, Me{User: u, DefaultProjectID: accounts.DefaultProjectID(u.ID), CSRFToken: CSRFToken(c.Get(ctxToken).(string))})
}

func (a *API) renameMe(c echo.Context) error {
	var b struct {
		Name string `json:"name"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	u, err := a.acc.Rename(c.Request().Context(), user(c).ID, b.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Me{User: u, DefaultProjectID: accounts.DefaultProjectID(u.ID), CSRFToken: CSRFToken(c.Get(ctxToken).(string))})
}
