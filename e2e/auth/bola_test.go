package auth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/cryptopay"
)

// TestBOLA_AnotherUsersObjectsAreNotFoundOnEveryRoute signs in two people
// and has the first try every route that names an object with the second's
// ids: each answers 404 (as for a missing object), and nothing of the
// second's changes.
func TestBOLA_AnotherUsersObjectsAreNotFoundOnEveryRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	startPayments(t, h)
	alice, am := h.signIn("alice@example.com")
	bob, bm := h.signIn("bob@example.com")
	// Bob has a wallet and a crypto claim.
	bw := newWallet(t)
	linkWallet(t, bob, bw)
	var bc claimOut
	bob.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": "0x" + strings.Repeat("b0", 32)}, http.StatusAccepted).JSON(t, &bc)
	bclaim := url.PathEscape(bc.ClaimID)
	missingClaim := url.PathEscape(cryptopay.ClaimID("base", "0x"+strings.Repeat("b0", 32), "acc_missing"))
	var bk keyOut
	bob.Must(http.MethodPost, "/api/projects/"+bm.DefaultProjectID+"/keys", map[string]any{"name": "bob's"}, http.StatusCreated).JSON(t, &bk)
	var ak keyOut
	alice.Must(http.MethodPost, "/api/projects/"+am.DefaultProjectID+"/keys", map[string]any{"name": "alice's"}, http.StatusCreated).JSON(t, &ak)

	bp, bkey, ap := bm.DefaultProjectID, bk.ID, am.DefaultProjectID
	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodPatch, "/api/projects/" + bp, map[string]string{"name": "pwned"}},
		{http.MethodDelete, "/api/projects/" + bp, nil},
		{http.MethodGet, "/api/projects/" + bp + "/keys", nil},
		{http.MethodPost, "/api/projects/" + bp + "/keys", map[string]any{"name": "mine now"}},
		{http.MethodPatch, "/api/projects/" + bp + "/keys/" + bkey, map[string]any{"rpm": 1}},
		{http.MethodDelete, "/api/projects/" + bp + "/keys/" + bkey, nil},
		// Bob's key under Alice's own project.
		{http.MethodPatch, "/api/projects/" + ap + "/keys/" + bkey, map[string]any{"rpm": 1}},
		{http.MethodDelete, "/api/projects/" + ap + "/keys/" + bkey, nil},
		{http.MethodGet, "/api/usage?project_id=" + bp, nil},
		{http.MethodGet, "/api/crypto/claims/" + bclaim, nil},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			got := alice.Do(r.method, r.path, r.body)
			if got.Status != http.StatusNotFound {
				t.Fatalf("status %d, want 404: %s", got.Status, got.Body)
			}
			// Same answer as for an object that does not exist.
			missing := alice.Do(r.method, strings.NewReplacer(bp, "prj_missing", bkey, "key_missing", bclaim, missingClaim).Replace(r.path), r.body)
			if missing.Status != got.Status || string(missing.Body) != string(got.Body) {
				t.Errorf("another's object answers %d %s, a missing one %d %s", got.Status, got.Body, missing.Status, missing.Body)
			}
		})
	}

	// Bob's project and key are untouched.
	var list struct {
		Keys []keyOut `json:"keys"`
	}
	bob.Must(http.MethodGet, "/api/projects/"+bp+"/keys", nil, http.StatusOK).JSON(t, &list)
	if len(list.Keys) != 1 || list.Keys[0].Status != "active" || list.Keys[0].RPM != 0 {
		t.Fatalf("bob's keys changed: %+v", list.Keys)
	}
	var ps struct {
		Projects []struct{ ID, Name string } `json:"projects"`
	}
	bob.Must(http.MethodGet, "/api/projects", nil, http.StatusOK).JSON(t, &ps)
	if len(ps.Projects) != 1 || ps.Projects[0].Name != "Default project" {
		t.Fatalf("bob's projects changed: %+v", ps.Projects)
	}

	// Routes without ids show only the caller's own data.
	for _, path := range []string{"/api/me", "/api/projects", "/api/projects/" + ap + "/keys", "/api/balance", "/api/usage", "/api/account/export", "/api/crypto"} {
		body := string(alice.Must(http.MethodGet, path, nil, http.StatusOK).Body)
		for _, bobs := range []string{bm.AccountID, bp, bkey, "bob@example.com", bk.Prefix, strings.ToLower(bw.addr), bc.ClaimID} {
			if strings.Contains(body, bobs) {
				t.Errorf("%s shows Alice something of Bob's (%s)", path, bobs)
			}
		}
	}
}
