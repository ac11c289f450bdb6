package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

func TestCatalog_OperatorFileAddsANewerModelRetiresOneAndMarkupApplies(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "models.json")
	doc := `{"remove":[],"models":[
	  {"id":"claude-opus-4-8","name":"Claude Opus 4.8","provider":"anthropic","upstream_id":"claude-opus-4-8","context_length":200000,
	   "max_output_tokens":64000,"created":1790000000,"source":"operator","pricing":{"input":5000000,"cached_input":500000,"output":25000000,"cache_write":6250000}},
	  {"id":"o3-mini","retired":true}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, withConfig(func(c *gateway.Config) { c.CatalogFile = path; c.MarkupBasisPoints = 1000 }))
	// Claude Code's default model works on /v1/messages.
	var raw *http.Response
	msg, err := h.anthropic(h.key).Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-opus-4-8", MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	}, aoption.WithResponseInto(&raw))
	if err != nil || len(msg.Content) == 0 {
		t.Fatalf("new model: %v", err)
	}
	ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
	m, _ := func() (catalog.Model, bool) {
		c, err := catalog.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return c.Lookup("claude-opus-4-8")
	}()
	base := expectCost(m, 2095, 4096, 512, 503)
	withMarkup := (base*11 + 9) / 10 // +10%, rounded up
	if ev.Model != "claude-opus-4-8" || ev.CostMicros != withMarkup {
		t.Errorf("event model %s cost %d, want %d (base %d + 10%%)", ev.Model, ev.CostMicros, withMarkup, base)
	}
	// The retired model is gone from the list and answers 404.
	resp, body := h.post("/v1/chat/completions", h.key, `{"model":"o3-mini","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 404 {
		t.Errorf("retired model: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	lr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Body.Close()
	var list struct {
		Data []struct {
			ID      string `json:"id"`
			Pricing struct {
				Input int64 `json:"input"`
			} `json:"pricing"`
		} `json:"data"`
	}
	if err := json.NewDecoder(lr.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range list.Data {
		if d.ID == "o3-mini" {
			t.Errorf("retired model listed")
		}
		if d.ID == "claude-opus-4-8" {
			found = true
			if d.Pricing.Input != 5_500_000 {
				t.Errorf("listed input price %d, want 5500000 (with the 10%% markup)", d.Pricing.Input)
			}
		}
	}
	if !found {
		t.Errorf("new model not listed")
	}
}

func TestOutbox_KeyViewKeepsFollowingKVAfterABusOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, keyID, acc, prj := h.newKey(events.APIKeyV1{AccountID: h.accountID})
	waitFor(t, time.Minute, "key", func() bool { resp, _ := h.post("/v1/chat/completions", key, plainChat); return resp.StatusCode == 200 })
	h.nats.Stop()
	// Keys and balances are served from memory while the bus is down.
	if resp, _ := h.post("/v1/chat/completions", key, plainChat); resp.StatusCode != 200 {
		t.Fatalf("during the outage: %d", resp.StatusCode)
	}
	h.nats.Resume(t)
	waitFor(t, time.Minute, "bus back", func() bool { return h.svc.Ready() })
	revoked := time.Now()
	waitFor(t, time.Minute, "revocation after the outage", func() bool {
		h.putKey(key, events.APIKeyV1{V: 1, KeyID: keyID, AccountID: acc, ProjectID: prj, Status: events.KeyRevoked, UpdatedAt: time.Now().UTC()})
		resp, _ := h.post("/v1/chat/completions", key, plainChat)
		return resp.StatusCode == http.StatusUnauthorized
	})
	t.Logf("revocation seen %v after the bus returned", time.Since(revoked))
	_ = strings.TrimSpace
}

func TestModels_ListServesTheWholeCatalogOfAtLeastSixtyModels(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			ID       string `json:"id"`
			Provider string `json:"provider"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Data) < 60 || len(list.Data) != len(c.List()) {
		t.Errorf("GET /v1/models lists %d models, want the catalog's %d (at least 60)", len(list.Data), len(c.List()))
	}
	perProvider := map[string]int{}
	ids := map[string]bool{}
	for _, d := range list.Data {
		perProvider[d.Provider]++
		ids[d.ID] = true
	}
	for _, p := range []catalog.Provider{catalog.OpenAI, catalog.Anthropic, catalog.Google, catalog.XAI} {
		if perProvider[string(p)] < 5 {
			t.Errorf("%s: %d models listed, want several", p, perProvider[string(p)])
		}
	}
	// Claude Code's default model, and a retired id answered by its successor.
	if !ids["claude-opus-4-8"] || ids["claude-3-5-haiku"] {
		t.Errorf("claude-opus-4-8 listed %v, retired claude-3-5-haiku listed %v", ids["claude-opus-4-8"], ids["claude-3-5-haiku"])
	}
}
