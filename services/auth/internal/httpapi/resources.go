package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

type nameBody struct {
	Name string `json:"name"`
}

func bind(c echo.Context, v any) error {
	if err := c.Bind(v); err != nil {
		return fail(http.StatusBadRequest, "invalid_request", "the body is not the JSON this route takes")
	}
	return nil
}

func (a *API) listProjects(c echo.Context) error {
	ps, err := a.acc.Projects(c.Request().Context(), user(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"projects": ps})
}

func (a *API) createProject(c echo.Context) error {
	var b nameBody
	if err := bind(c, &b); err != nil {
		return err
	}
	p, err := a.acc.CreateProject(c.Request().Context(), user(c).ID, b.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, p)
}

func (a *API) renameProject(c echo.Context) error {
	var b nameBody
	if err := bind(c, &b); err != nil {
		return err
	}
	p, err := a.acc.RenameProject(c.Request().Context(), user(c).ID, c.Param("project"), b.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (a *API) deleteProject(c echo.Context) error {
	if err := a.acc.DeleteProject(c.Request().Context(), user(c).ID, c.Param("project")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) listKeys(c echo.Context) error {
	ks, err := a.acc.Keys(c.Request().Context(), user(c).ID, c.Param("project"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": ks})
}

type keyBody struct {
	Name string `json:"name"`
	accounts.KeyLimits
}

// CreatedKey is a new key: the only answer that ever holds the full key.
type CreatedKey struct {
	Secret string `json:"key"`
	accounts.Key
}

func (a *API) createKey(c echo.Context) error {
	var b keyBody
	if err := bind(c, &b); err != nil {
		return err
	}
	full, k, err := a.acc.CreateKey(c.Request().Context(), user(c).ID, c.Param("project"), b.Name, b.KeyLimits)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, CreatedKey{Secret: full, Key: k})
}

func (a *API) updateKey(c echo.Context) error {
	var b accounts.KeyLimits
	if err := bind(c, &b); err != nil {
		return err
	}
	k, err := a.acc.UpdateKeyLimits(c.Request().Context(), user(c).ID, c.Param("project"), c.Param("key"), b)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, k)
}

func (a *API) revokeKey(c echo.Context) error {
	k, err := a.acc.RevokeKey(c.Request().Context(), user(c).ID, c.Param("project"), c.Param("key"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, k)
}

func (a *API) balance(c echo.Context) error {
	b, err := a.acc.Balance(c.Request().Context(), user(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, b)
}

// usage answers GET /api/usage?from=2026-11-01&to=2026-11-30&group_by=day|model|key[&project_id=].
// The range defaults to the last 30 days, UTC.
func (a *API) usage(c echo.Context) error {
	now := a.acc.Now()
	q := accounts.UsageQuery{From: now.AddDate(0, 0, -29), To: now, GroupBy: c.QueryParam("group_by"), ProjectID: c.QueryParam("project_id")}
	if q.GroupBy == "" {
		q.GroupBy = accounts.ByDay
	}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if v := c.QueryParam(name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return fail(http.StatusBadRequest, "invalid_request", name+" must be a date such as 2026-11-25")
			}
			*dst = t
		}
	}
	rows, err := a.acc.Usage(c.Request().Context(), user(c).ID, q)
	if err != nil {
		return err
	}
	var total accounts.UsageRow
	total.Group = "total"
	for _, r := range rows {
		total.Requests += r.Requests
		total.Errors += r.Errors
		total.InputTokens += r.InputTokens
		total.CachedInputTokens += r.CachedInputTokens
		total.OutputTokens += r.OutputTokens
		total.CostMicros += r.CostMicros
	}
	return c.JSON(http.StatusOK, map[string]any{
		"from": q.From.Format(time.DateOnly), "to": q.To.Format(time.DateOnly), "group_by": q.GroupBy,
		"rows": rows, "total": total,
	})
}

// Checkout amounts the account API accepts before asking payments.
const (
	minCheckout = money.Dollar
	maxCheckout = 10_000 * money.Dollar
)

// createCheckout asks payments (NATS request/reply) for a card checkout
// for the caller's account. The return URLs are ours, never the client's,
// so the route cannot be used as an open redirect.
func (a *API) createCheckout(c echo.Context) error {
	var b struct {
		AmountMicros money.Micros `json:"amount_micros"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	if b.AmountMicros < minCheckout || b.AmountMicros > maxCheckout {
		return fail(http.StatusBadRequest, "amount_out_of_range", "amount_micros must be between "+minCheckout.Display()+" and "+maxCheckout.Display())
	}
	if a.checkout == nil {
		return fail(http.StatusServiceUnavailable, "unavailable", "card payments are not available")
	}
	u := user(c)
	sep := "?"
	if strings.Contains(a.cfg.AppURL, "?") {
		sep = "&"
	}
	rep, err := a.checkout.Checkout(c.Request().Context(), events.CheckoutRequestV1{
		V: 1, AccountID: u.ID, Email: u.Email, AmountMicros: b.AmountMicros,
		SuccessURL: a.cfg.AppURL + sep + "checkout=success", CancelURL: a.cfg.AppURL + sep + "checkout=cancel",
	})
	if err != nil {
		a.log.Warn("checkout request failed", "err", err)
		return fail(http.StatusServiceUnavailable, "unavailable", "card payments are not available right now")
	}
	if rep.Code != "" || rep.URL == "" {
		status := http.StatusBadRequest
		if rep.Code == "unavailable" || rep.Code == "" {
			status = http.StatusServiceUnavailable
		}
		code := rep.Code
		if code == "" {
			code = "unavailable"
		}
		return fail(status, code, rep.Error)
	}
	return c.JSON(http.StatusCreated, map[string]string{"url": rep.URL, "session_id": rep.SessionID})
}

func (a *API) export(c echo.Context) error {
	x, err := a.acc.Export(c.Request().Context(), user(c).ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="onekey-export.json"`)
	return c.JSON(http.StatusOK, x)
}

// RecentSignIn is how recent a session's sign-in must be to delete the
// account: a session left open on a shared or stolen device is not enough.
const RecentSignIn = 10 * time.Minute

func (a *API) deleteAccount(c echo.Context) error {
	// A session is made only by a sign-in, so its creation is the sign-in.
	if sess := c.Get(ctxSession).(accounts.Session); a.acc.Now().Sub(sess.CreatedAt) > RecentSignIn {
		return fail(http.StatusForbidden, "reauthentication_required",
			"deleting your account needs a sign-in within the last 10 minutes: please sign in again, then delete it")
	}
	err := a.acc.DeleteAccount(c.Request().Context(), user(c).ID)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		return err
	}
	c.SetCookie(clearCookie(SessionCookie))
	return c.NoContent(http.StatusNoContent)
}
