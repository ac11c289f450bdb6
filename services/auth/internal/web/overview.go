package web

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

type overviewData struct {
	Balance          money.Micros
	FreeLeft         int64
	LowThreshold     money.Micros
	Banner           string // bannerKind's answer
	LiveKey          string
	Today, Month     Totals
	MonthName        string
	Last30           Totals
	Days             []Group
	SpendChart       template.HTML
	RequestsChart    template.HTML
	TopModels        []Group
	GatewayURL       string
	DefaultProjectID string
	HasKeys          bool
}

func (p *Pages) overview(c echo.Context) error {
	// Stripe Checkout returns to the app's URL: show the result on billing.
	if r := c.QueryParam("checkout"); r == "success" || r == "cancel" {
		return c.Redirect(http.StatusSeeOther, "/billing?checkout="+r)
	}
	ctx := p.ctx(c)
	u := viewerOf(c).User
	now := p.acc.Now()
	v, err := p.ledger(ctx, u.ID, needRollups)
	if err != nil {
		return err
	}
	la := v.Account
	today := day(now)
	monthStart := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC)
	from := today.AddDate(0, 0, -29)
	if monthStart.Before(from) {
		from = monthStart
	}
	rs := v.since(from)
	d := overviewData{
		Balance: money.Micros(la.BalanceMicros), FreeLeft: la.FreeRequestsLeft, LowThreshold: money.Micros(la.LowBalanceMicros),
		GatewayURL: strings.TrimSuffix(p.cfg.GatewayURL, "/"), DefaultProjectID: accounts.DefaultProjectID(u.ID),
		MonthName: today.Format("January"),
	}
	d.LiveKey = liveKey(d.Balance, d.FreeLeft)
	d.Banner = bannerKind(la.Opened, d.Balance, d.FreeLeft, d.LowThreshold)
	todayKey, monthKey := readmodel.Day(today), readmodel.Day(monthStart)
	last30 := readmodel.Day(today.AddDate(0, 0, -29))
	d.Today = total(rs, func(r readmodel.Rollup) bool { return r.Day == todayKey })
	d.Month = total(rs, func(r readmodel.Rollup) bool { return r.Day >= monthKey })
	var in30 []readmodel.Rollup
	for _, r := range rs {
		if r.Day >= last30 {
			in30 = append(in30, r)
		}
	}
	d.Last30 = total(in30, nil)
	d.Days = byDay(in30, today.AddDate(0, 0, -29), today)
	d.SpendChart = barChart("Spend per day, last 30 days", d.Days, func(g Group) int64 { return int64(g.Charged) },
		func(g Group) string { return USD(g.Charged) + " charged, " + Num(g.Requests) + " requests" }, "b1")
	d.RequestsChart = barChart("Requests per day, last 30 days", d.Days, func(g Group) int64 { return g.Requests },
		func(g Group) string { return Num(g.Requests) + " requests (" + Num(g.FreeRequests) + " free)" }, "b2")
	d.TopModels = sumBy(in30, func(r readmodel.Rollup) string { return r.Model }, nil)
	if len(d.TopModels) > 5 {
		d.TopModels = d.TopModels[:5]
	}
	return p.render(c, http.StatusOK, "overview", "Overview", "overview", d)
}

// bannerKind is the overview's balance banner: "empty" (nothing left),
// "free" (below the threshold, living on free requests), "low" (below the
// threshold) or "" (none). Until the ledger has opened the account (a
// second or so after the first sign-in) there is nothing to warn about.
// static/app.js decides the same way when the live balance changes.
func bannerKind(opened bool, balance money.Micros, free int64, threshold money.Micros) string {
	switch low := threshold > 0 && balance < threshold; {
	case !opened:
		return ""
	case balance <= 0 && free == 0:
		return "empty"
	case low && free > 0:
		return "free"
	case low:
		return "low"
	}
	return ""
}

// balanceBanner is what the "balance-banner" template shows.
type balanceBanner struct {
	Kind         string
	FreeLeft     int64
	LowThreshold money.Micros
}

// BannerOf is the banner of the given kind with the page's figures.
func (d overviewData) BannerOf(kind string) balanceBanner {
	return balanceBanner{Kind: kind, FreeLeft: d.FreeLeft, LowThreshold: d.LowThreshold}
}

// liveKey is what the live-balance script compares with the API's answer.
func liveKey(b money.Micros, free int64) string {
	return strconv.FormatInt(int64(b), 10) + "/" + strconv.FormatInt(free, 10)
}
