package dashboard_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
)

func TestDashboard_RevokedKeyIsRefusedExportDownloadsAndDeletedAccountIsSignedOut(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := visitor(t).NewPage()
	signIn(t, s, p, "linus@example.com")
	key := createProjectAndKey(t, s, p, "Kernel", "ci")
	s.waitGateway(key, 0, 20)
	if code, body := s.chat(key); code != http.StatusOK {
		t.Fatalf("gateway with the new key: %d %s", code, body)
	}

	// Revoke: the gateway refuses the key once the KV update reaches it
	// (milliseconds; a minute allowed on a loaded machine).
	p.Visit("keys", s.AuthURL+"/keys")
	p.Click(tid("key-row") + " " + tid("revoke-open"))
	p.ClickToLoad("key-revoked", `dialog[open] `+tid("revoke-confirm"))
	p.WaitText(tid("key-row"), "revoked")
	e2estack.WaitWithin(t, time.Minute, "the gateway refuses the revoked key", func() bool {
		code, _ := s.chat(key)
		return code == http.StatusUnauthorized
	})

	// Export: a JSON download of the account, without the key itself.
	p.Visit("settings", s.AuthURL+"/settings")
	name, raw := p.Download(tid("export"))
	var export map[string]any
	if err := json.Unmarshal(raw, &export); err != nil {
		t.Fatalf("export %s is not JSON: %v\n%.300s", name, err, raw)
	}
	if !strings.HasSuffix(name, ".json") || !strings.Contains(string(raw), "linus@example.com") || !strings.Contains(string(raw), "Kernel") {
		t.Errorf("export %s lacks the address or the project:\n%.500s", name, raw)
	}
	if strings.Contains(string(raw), key) {
		t.Error("the export holds the API key itself")
	}

	// Delete: the account is gone and the browser signed out.
	p.Click(tid("delete-open"))
	p.Fill(tid("delete-confirm-input"), "delete my account")
	p.ClickToLoad("deleted-signed-out", tid("delete-submit"))
	if !strings.HasSuffix(p.URL(), "/sign-in") {
		t.Fatalf("after deleting the account the browser is at %s, want /sign-in", p.URL())
	}
	p.Visit("after-delete", s.AuthURL+"/")
	if !strings.HasSuffix(p.URL(), "/sign-in") || p.Has(tid("signed-in-as")) {
		t.Fatalf("after deleting the account / shows %s, signed in", p.URL())
	}
}
