package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
)

// An operator suspends a key (what `onekeyctl key suspend` asks auth):
// the gateway refuses it, and its owner sees it suspended on /keys with
// the reason it is refused, the operator's reason and since when (not the
// operator's name), and only Revoke, not Edit.
func TestDashboard_AKeySuspendedByTheOperatorShowsSuspendedWithOnlyRevoke(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := visitor(t).NewPage()
	signIn(t, s, p, "ida@example.com")
	key := createProjectAndKey(t, s, p, "Lab", "ci-runner")
	s.waitGateway(key, 0, 20)
	if code, body := s.chat(key); code != http.StatusOK {
		t.Fatalf("gateway before the suspension: %d %s", code, body)
	}

	ctx := context.Background()
	kv, err := s.bus.KV(ctx, events.BucketAPIKeys)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, apikey.Hash(key))
	if err != nil {
		t.Fatal(err)
	}
	var k events.APIKeyV1
	if err := json.Unmarshal(e.Value(), &k); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC() // of the suspension, unless midnight passes meanwhile
	raw, _ := json.Marshal(events.KeyStatusRequestV1{V: 1, KeyID: k.KeyID, Action: events.KeyActionSuspend, Actor: "operator:test", Reason: "abuse report"})
	msg, err := s.bus.Conn().Request(events.SubjectKeyStatus, raw, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep events.KeyStatusReplyV1
	if err := json.Unmarshal(msg.Data, &rep); err != nil || rep.Status != events.KeySuspended {
		t.Fatalf("suspend: %s (%v)", msg.Data, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, _ := s.chat(key)
		if code == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway still answers a suspended key with %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}

	p.Visit("keys-suspended", s.AuthURL+"/keys")
	p.WaitText(tid("key-suspended"), "suspended")
	p.WaitText(tid("key-suspended-hint"), "refused until the operator restores it")
	p.WaitText(tid("key-suspension-reason"), "abuse report")
	since := p.Text(tid("key-suspension"))
	if !strings.Contains(since, "since "+day.Format("2 Jan 2006")) && !strings.Contains(since, "since "+time.Now().UTC().Format("2 Jan 2006")) ||
		strings.Contains(since, "test") {
		t.Errorf("the suspension line under the key is %q, want the day it began (%s) and not the operator's name", since, day.Format("2 Jan 2006"))
	}
	p.Check("keys-a-suspended-key")
	row := `tr:has([data-testid="key-suspended"])`
	if !p.Has(row + ` [data-testid="revoke-open"]`) {
		t.Error("a suspended key cannot be revoked from the page")
	}
	if p.Has(row + ` button[data-open-dialog^="edit-"]`) {
		t.Error("a suspended key's limits can be edited from the page")
	}
}
