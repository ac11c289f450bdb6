package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

// accountCreated is the account.created auth published for an account.
func (h *harness) accountCreated(accountID string) events.AccountCreatedV1 {
	h.t.Helper()
	ctx := context.Background()
	st, err := h.bus.JetStream().Stream(ctx, events.StreamAccounts)
	if err != nil {
		h.t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, events.FamilyAccountCreated+"."+accountID)
	if err != nil {
		h.t.Fatalf("no account.created for %s: %v", accountID, err)
	}
	var ev events.AccountCreatedV1
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		h.t.Fatal(err)
	}
	return ev
}

func TestFreeRequests_GrantedOncePerVerifiedAddressEvenAfterDeletion(t *testing.T) {
	t.Parallel()
	h := newOAuthHarness(t)
	const email = "fran@example.com"
	c, first := h.signIn(email)
	if ev := h.accountCreated(first.AccountID); ev.NoFreeRequests {
		t.Fatal("the first account of an address opened without its free requests")
	}
	// Another address is unaffected.
	if _, other := h.signIn("gus@example.com"); h.accountCreated(other.AccountID).NoFreeRequests {
		t.Fatal("another address opened without free requests")
	}
	c.Must(http.MethodDelete, "/api/account", nil, http.StatusNoContent)

	// Signing in again by magic link opens a new account, without them.
	c2, second := h.signIn(email)
	if second.AccountID == first.AccountID {
		t.Fatal("the deleted account came back")
	}
	if !h.accountCreated(second.AccountID).NoFreeRequests {
		t.Fatal("deleting the account and signing in again granted the free requests a second time")
	}
	// So does a third account, through Google this time, for the same
	// (verified) address.
	c2.Must(http.MethodDelete, "/api/account", nil, http.StatusNoContent)
	h.google.QueueUser(&mockoidc.MockUser{Subject: "google-fran", Email: email, EmailVerified: true})
	gc := h.client()
	gc.Must(http.MethodGet, h.start(gc, "google"), nil, http.StatusSeeOther)
	var g me
	gc.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &g)
	if g.AccountID == second.AccountID || !h.accountCreated(g.AccountID).NoFreeRequests {
		t.Fatalf("a Google sign-in for the address got free requests again (account %s)", g.AccountID)
	}

	// What is kept is a keyed hash, never the address, and no account id
	// of a deleted account.
	dump := h.dump()
	if n := h.count(accounts.CollFreeGrants, bson.D{}); n != 2 {
		t.Errorf("%d free-grant records, want one per address", n)
	}
	for _, line := range strings.Split(dump, "\n") {
		if strings.HasPrefix(line, accounts.CollFreeGrants+" ") && (strings.Contains(line, "fran") || strings.Contains(line, first.AccountID) || strings.Contains(line, second.AccountID)) {
			t.Errorf("free-grant record holds the address or a deleted account: %s", line)
		}
	}
}
