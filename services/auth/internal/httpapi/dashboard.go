package httpapi

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

// dashboardRoutes are the API routes the dashboard added: sign out
// everywhere, payment history and account settings (the low-balance
// alert threshold).
func (a *API) dashboardRoutes(api *echo.Group) {
	api.POST("/auth/sign-out-everywhere", a.signOutEverywhere)
	api.GET("/payments", a.paymentHistory)
	api.GET("/account/settings", a.accountSettings)
	api.PATCH("/account/settings", a.updateAccountSettings)
}

// browserPath reports whether an error on r is for a person looking at a
// page (a dashboard page, or a sign-in step a browser navigates to) rather
// than for a JSON client.
func browserPath(r *http.Request) bool {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/api/") {
		return p != "/healthz" && p != "/readyz" && p != "/metrics"
	}
	return r.Method == http.MethodGet && strings.HasPrefix(p, "/api/auth/") && strings.HasSuffix(p, "/callback")
}

// signOutEverywhere ends every session of the caller's account, this one
// included.
func (a *API) signOutEverywhere(c echo.Context) error {
	n, err := a.acc.DeleteSessions(c.Request().Context(), user(c).ID)
	if err != nil {
		return err
	}
	c.SetCookie(clearCookie(SessionCookie))
	return c.JSON(http.StatusOK, map[string]int64{"sessions_ended": n})
}

// paymentHistory lists purchases, refunds, disputes, adjustments and
// on-chain credits that the ledger has applied, newest first.
func (a *API) paymentHistory(c echo.Context) error {
	ps, err := a.acc.Payments(c.Request().Context(), user(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"payments": ps})
}

func (a *API) accountSettings(c echo.Context) error {
	s, err := a.acc.Settings(c.Request().Context(), user(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s)
}

// updateAccountSettings asks the ledger to apply new settings; it answers
// 202: the ledger applies them in order with the account's other events,
// usually within a second.
func (a *API) updateAccountSettings(c echo.Context) error {
	var b accounts.Settings
	if err := bind(c, &b); err != nil {
		return err
	}
	s, err := a.acc.UpdateSettings(c.Request().Context(), user(c).ID, b)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s)
}
