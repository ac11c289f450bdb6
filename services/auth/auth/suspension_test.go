package auth_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
)

// TestKeys_ASuspendedKeyTellsItsUserWhyAndSinceWhen suspends a key through
// auth's operator request (as onekeyctl does) with a reason that looks
// like HTML, and suspends, then restores, a second: the keys API gives the
// suspended key suspended_at and suspension_reason (the reason as the
// operator wrote it), and no such fields for the restored, the active or
// the revoked key; /keys shows the reason escaped and the date, and
// neither shows the operator's name.
func TestKeys_ASuspendedKeyTellsItsUserWhyAndSinceWhen(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("vera@example.com")
	path := "/api/projects/" + m.DefaultProjectID + "/keys"
	names := []string{"held", "restored", "active", "revoked"}
	ids := map[string]string{}
	for _, n := range names {
		var k keyOut
		c.Must(http.MethodPost, path, map[string]any{"name": n}, http.StatusCreated).JSON(t, &k)
		ids[n] = k.ID
	}
	c.Must(http.MethodDelete, path+"/"+ids["revoked"], nil, http.StatusOK)

	h.runUntilCleanup()
	ask := h.changeKeyStatus
	const reason = `<script>alert("x")</script> resold & "free" credits`
	at := h.clock.Now()
	ask(events.KeyStatusRequestV1{V: 1, KeyID: ids["restored"], Action: events.KeyActionSuspend, Actor: "operator:mallory", Reason: "chargeback"})
	ask(events.KeyStatusRequestV1{V: 1, KeyID: ids["restored"], Action: events.KeyActionRestore, Actor: "operator:mallory"})
	ask(events.KeyStatusRequestV1{V: 1, KeyID: ids["held"], Action: events.KeyActionSuspend, Actor: "operator:bob", Reason: reason})

	r := c.Must(http.MethodGet, path, nil, http.StatusOK)
	var got struct {
		Keys []map[string]any `json:"keys"`
	}
	r.JSON(t, &got)
	byName := map[string]map[string]any{}
	for _, k := range got.Keys {
		byName[fmt.Sprint(k["name"])] = k
	}
	for _, n := range names {
		k, ok := byName[n]
		if !ok {
			t.Fatalf("the keys API lacks key %q: %s", n, r.Body)
		}
		_, hasAt := k["suspended_at"]
		_, hasReason := k["suspension_reason"]
		if n == "held" {
			continue
		}
		if hasAt || hasReason {
			t.Errorf("the %s key (status %v) has suspension fields: %v", n, k["status"], k)
		}
	}
	held := byName["held"]
	if held["status"] != events.KeySuspended || held["suspension_reason"] != reason {
		t.Errorf("the suspended key: status %v, reason %q, want %s, %q", held["status"], held["suspension_reason"], events.KeySuspended, reason)
	}
	if since, err := time.Parse(time.RFC3339Nano, fmt.Sprint(held["suspended_at"])); err != nil || !since.Equal(at) {
		t.Errorf("the suspended key's suspended_at is %v, want %s", held["suspended_at"], at.Format(time.RFC3339))
	}

	page := string(c.Must(http.MethodGet, "/keys", nil, http.StatusOK).Body)
	for _, want := range []string{
		`data-testid="key-suspension"`,
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; resold &amp; &#34;free&#34; credits`,
		`datetime="` + at.UTC().Format(time.DateOnly) + `"`, at.UTC().Format("2 Jan 2006"),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the keys page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("the keys page shows the operator's reason unescaped")
	}
	if n := strings.Count(page, `data-testid="key-suspension"`); n != 1 {
		t.Errorf("the keys page shows %d suspensions, want 1 (the restored key's is over)", n)
	}
	for _, body := range []string{string(r.Body), page} {
		for _, name := range []string{"bob", "mallory"} {
			if strings.Contains(body, name) {
				t.Errorf("the user is shown the operator's name %q", name)
			}
		}
	}
}
