package web

import (
	"bytes"
	"encoding/csv"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/api/readmodel"
)

// MaxUsageDays is the longest range the usage page shows (usage rows are
// kept 90 days).
const MaxUsageDays = 90

type usageData struct {
	From, To, Min, Max string
	Days               int
	Notice             string
	Total              Totals
	Daily              []Group
	SpendChart         template.HTML
	RequestsChart      template.HTML
	ByModel, ByProject []Group
	ByKey              []Group
	Query              string
}

// usageRange reads ?from=&to= (dates, UTC), defaulting to the last 30
// days and clamped to 90 days ending today at the latest.
func (p *Pages) usageRange(c echo.Context) (from, to time.Time, notice string) {
	today := day(p.acc.Now())
	to, from = today, today.AddDate(0, 0, -29)
	if v, err := time.Parse(time.DateOnly, c.QueryParam("to")); err == nil {
		to = v
	}
	if v, err := time.Parse(time.DateOnly, c.QueryParam("from")); err == nil {
		from = v
	}
	if to.After(today) {
		to = today
	}
	if from.After(to) {
		from, to = to, from
		notice = "The dates were swapped so that the range starts before it ends."
	}
	if oldest := today.AddDate(0, 0, -(MaxUsageDays - 1)); from.Before(oldest) {
		from = oldest
		if to.Before(from) {
			to = from
		}
		notice = "Usage is kept for 90 days: the range now starts on " + from.Format("2 Jan 2006") + "."
	}
	return from, to, notice
}

// usageGroups sums the account's rollups of from..to by day, model,
// project and key, with names for projects and keys.
func (p *Pages) usageGroups(c echo.Context, from, to time.Time) (usageData, error) {
	ctx := p.ctx(c)
	u := viewerOf(c).User
	v, err := p.ledger(ctx, u.ID, needRollups)
	if err != nil {
		return usageData{}, err
	}
	rs := v.between(from, to)
	ps, err := p.acc.Projects(ctx, u.ID)
	if err != nil {
		return usageData{}, err
	}
	ks, err := p.acc.AllKeys(ctx, u.ID)
	if err != nil {
		return usageData{}, err
	}
	names := map[string]string{}
	for _, pr := range ps {
		names[pr.ID] = pr.Name
	}
	keyNames := map[string]string{}
	for _, k := range ks {
		keyNames[k.ID] = k.Name + " (" + k.Prefix + "…)"
	}
	label := func(m map[string]string) func(string) string {
		return func(id string) string {
			if n, ok := m[id]; ok {
				return n
			}
			return id + " (deleted)"
		}
	}
	d := usageData{
		From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Days:      int(to.Sub(from).Hours()/24) + 1,
		Total:     total(rs, nil),
		Daily:     byDay(rs, from, to),
		ByModel:   sumBy(rs, func(r readmodel.Rollup) string { return r.Model }, nil),
		ByProject: sumBy(rs, func(r readmodel.Rollup) string { return r.ProjectID }, label(names)),
		ByKey:     sumBy(rs, func(r readmodel.Rollup) string { return r.KeyID }, label(keyNames)),
	}
	d.Query = "from=" + d.From + "&to=" + d.To
	return d, nil
}

func (p *Pages) usage(c echo.Context) error {
	from, to, notice := p.usageRange(c)
	d, err := p.usageGroups(c, from, to)
	if err != nil {
		return err
	}
	today := day(p.acc.Now())
	d.Notice = notice
	d.Max = today.Format(time.DateOnly)
	d.Min = today.AddDate(0, 0, -(MaxUsageDays - 1)).Format(time.DateOnly)
	d.SpendChart = barChart("Spend per day", d.Daily, func(g Group) int64 { return int64(g.Charged) },
		func(g Group) string { return USD(g.Charged) + " charged, " + Num(g.Requests) + " requests" }, "b1")
	d.RequestsChart = barChart("Requests per day", d.Daily, func(g Group) int64 { return g.Requests },
		func(g Group) string { return Num(g.Requests) + " requests (" + Num(g.FreeRequests) + " free)" }, "b2")
	// The table lists the newest day first.
	rev := make([]Group, len(d.Daily))
	for i, g := range d.Daily {
		rev[len(d.Daily)-1-i] = g
	}
	d.Daily = rev
	return p.render(c, http.StatusOK, "usage", "Usage", "usage", d)
}

// usageCSV is the usage page's tables as CSV: one line per day, model,
// project and key, amounts in USD with six decimals (exact micro-USD).
func (p *Pages) usageCSV(c echo.Context) error {
	from, to, _ := p.usageRange(c)
	d, err := p.usageGroups(c, from, to)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"breakdown", "id", "name", "requests", "free_requests", "errors", "input_tokens", "cached_input_tokens", "output_tokens", "cost_usd", "charged_usd"})
	section := func(name string, gs []Group, withName bool) {
		for _, g := range gs {
			n := ""
			if withName {
				n = g.Label
			}
			_ = w.Write([]string{name, g.Key, n, i64(g.Requests), i64(g.FreeRequests), i64(g.Errors), i64(g.InputTokens),
				i64(g.CachedInputTokens), i64(g.OutputTokens), dollars(int64(g.Cost)), dollars(int64(g.Charged))})
		}
	}
	section("day", d.Daily, false)
	section("model", d.ByModel, false)
	section("project", d.ByProject, true)
	section("key", d.ByKey, true)
	w.Flush()
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="onekey-usage-`+d.From+`-to-`+d.To+`.csv"`)
	return p.write(c, http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// dollars is micro-USD as a plain decimal with six places ("1.250000").
func dollars(m int64) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return sign + strconv.FormatInt(m/1_000_000, 10) + "." + strconv.FormatInt(m%1_000_000+1_000_000, 10)[1:]
}
