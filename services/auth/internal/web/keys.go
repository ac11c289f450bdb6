package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

type keyView struct {
	accounts.Key
	Spend  money.Micros
	Active bool
}

type projectView struct {
	accounts.Project
	Keys   []keyView
	Active int
}

type keysData struct {
	Projects []projectView
	Today    string
	Keys     int
}

func (p *Pages) keys(c echo.Context) error {
	ctx := p.ctx(c)
	u := viewerOf(c).User
	ps, err := p.acc.Projects(ctx, u.ID)
	if err != nil {
		return err
	}
	ks, err := p.acc.AllKeys(ctx, u.ID)
	if err != nil {
		return err
	}
	v, err := p.ledger(ctx, u.ID, needRollups)
	if err != nil {
		return err
	}
	la := v.Account
	last := map[string]string{}
	for _, r := range v.Rollups {
		if r.Requests > 0 && r.Day > last[r.KeyID] {
			last[r.KeyID] = r.Day
		}
	}
	now := p.acc.Now()
	d := keysData{Today: now.Format(time.DateOnly), Keys: len(ks)}
	idx := map[string]int{}
	for _, pr := range ps {
		idx[pr.ID] = len(d.Projects)
		d.Projects = append(d.Projects, projectView{Project: pr})
	}
	for _, k := range ks {
		i, ok := idx[k.ProjectID]
		if !ok {
			continue
		}
		k.LastUsed = last[k.ID]
		kv := keyView{Key: k, Spend: money.Micros(la.KeySpendMicros[k.ID]),
			Active: k.Status == "active" && (k.KeyExpiresAt == nil || k.KeyExpiresAt.After(now))}
		if kv.Active {
			d.Projects[i].Active++
		}
		d.Projects[i].Keys = append(d.Projects[i].Keys, kv)
	}
	return p.render(c, http.StatusOK, "keys", "Projects and keys", "keys", d)
}
