package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
)

// waitChat waits for the gateway to answer key with status and code: a KV
// update reaching the gateway takes milliseconds, the first answer also a
// credit lease from the ledger; a minute is allowed, for a loaded machine.
func (s *stack) waitChat(gatewayURL, key string, status int, code string) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, gotCode, err := chat(gatewayURL, key)
		if err != nil {
			s.t.Fatal(err)
		}
		if got == status && gotCode == code {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the gateway answers %d %q, want %d %q", got, gotCode, status, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kvStatus is the key's status in KV apikeys, where the gateway reads it.
func (s *stack) kvStatus(key string) string {
	s.t.Helper()
	kv, err := s.bus.KV(context.Background(), events.BucketAPIKeys)
	if err != nil {
		s.t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), apikey.Hash(key))
	if err != nil {
		s.t.Fatal(err)
	}
	var v events.APIKeyV1
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		s.t.Fatal(err)
	}
	return v.Status
}

// TestOnekeyctl_KeySuspendIsRefusedByTheGatewayUntilKeyRestore suspends a
// key through auth (twice: idempotent), sees the gateway refuse it with
// 403 key_suspended, account show name who and why, then restores it
// (twice) and sees the gateway admit it again.
func TestOnekeyctl_KeySuspendIsRefusedByTheGatewayUntilKeyRestore(t *testing.T) {
	s := newStack(t)
	acc := s.seed("held@example.com")
	gw, _ := s.services()
	s.waitChat(gw, acc.Key, http.StatusOK, "")

	for i, want := range []string{"is now suspended", "is already suspended"} {
		out, code := s.run("key", "suspend", acc.KeyID, "--reason", "abuse report #12", "--actor", "bob")
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("suspend #%d: exit %d: %s", i+1, code, out)
		}
	}
	s.waitChat(gw, acc.Key, http.StatusForbidden, "key_suspended")
	out, code := s.run("account", "show", acc.AccountID)
	if code != 0 || !strings.Contains(out, "suspended") || !strings.Contains(out, "by operator:bob") || !strings.Contains(out, "abuse report #12") {
		t.Fatalf("account show: exit %d: %s", code, out)
	}

	for i, want := range []string{"is now active", "is already active"} {
		out, code := s.run("key", "restore", acc.KeyID, "--actor", "carol")
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("restore #%d: exit %d: %s", i+1, code, out)
		}
	}
	s.waitChat(gw, acc.Key, http.StatusOK, "")
	if out, _ := s.run("account", "show", acc.AccountID); !strings.Contains(out, "restored") || !strings.Contains(out, "operator:carol") {
		t.Fatalf("account show after the restore has no audit of it: %s", out)
	}
	if out, code := s.run("key", "suspend", "key_nosuchkey", "--reason", "r"); code != exitFailed {
		t.Fatalf("unknown key: exit %d: %s", code, out)
	}
}

// TestOnekeyctl_TheKeysUserCannotRestoreASuspendedKeyButMayRevokeIt:
// through the account API the user can neither change nor reactivate a
// suspended key, also when a limit update's lost write (FerretDB writes a
// whole document back) leaves "active" in the key's document; the
// dashboard shows it suspended; the user may revoke it, and a revoked key
// is never restored.
func TestOnekeyctl_TheKeysUserCannotRestoreASuspendedKeyButMayRevokeIt(t *testing.T) {
	s := newStack(t)
	acc := s.seed("user@example.com")
	gw, authURL := s.services()
	user := s.signIn(authURL, acc.AccountID)
	if out, code := s.run("key", "suspend", acc.KeyID, "--reason", "card fraud"); code != 0 {
		t.Fatalf("suspend: exit %d: %s", code, out)
	}
	s.waitChat(gw, acc.Key, http.StatusForbidden, "key_suspended")

	keyPath := "/api/projects/" + acc.ProjectID + "/keys/" + acc.KeyID
	if status, body := user.do(http.MethodPatch, keyPath, `{"rpm":5,"status":"active"}`); status != http.StatusBadRequest || !strings.Contains(string(body), "suspended") {
		t.Fatalf("the user's PATCH of a suspended key: %d %s", status, body)
	}
	status, body := user.do(http.MethodGet, "/keys", "")
	if status != http.StatusOK || !strings.Contains(string(body), `data-testid="key-suspended"`) {
		t.Fatalf("the dashboard's keys page does not show the key suspended: %d", status)
	}
	status, body = user.do(http.MethodGet, "/api/projects/"+acc.ProjectID+"/keys", "")
	if status != http.StatusOK || !strings.Contains(string(body), `"status":"suspended"`) {
		t.Fatalf("GET keys: %d %s", status, body)
	}

	// A limit update that read the key before the suspension and wrote its
	// whole document back after it (FerretDB applies updates so), then the
	// relay picks the key up: the suspension record decides.
	if _, err := s.st.Collection("api_keys").UpdateOne(context.Background(), bson.D{{Key: "_id", Value: acc.KeyID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: events.KeyActive}, {Key: "rpm", Value: 5},
			{Key: "kv_synced", Value: false}, {Key: "updated_at", Value: time.Now().Add(-time.Hour)}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.auth.RelayOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.kvStatus(acc.Key); got != events.KeySuspended {
		t.Fatalf("after a lost update and the relay, KV says %q", got)
	}
	s.waitChat(gw, acc.Key, http.StatusForbidden, "key_suspended")
	if status, body := user.do(http.MethodPatch, keyPath, `{"rpm":7}`); status != http.StatusBadRequest {
		t.Fatalf("the user's PATCH after the lost update: %d %s", status, body)
	}

	if status, body := user.do(http.MethodDelete, keyPath, ""); status != http.StatusOK || !strings.Contains(string(body), `"status":"revoked"`) {
		t.Fatalf("the user's revoke of a suspended key: %d %s", status, body)
	}
	s.waitChat(gw, acc.Key, http.StatusUnauthorized, "invalid_api_key")
	if out, code := s.run("key", "restore", acc.KeyID); code != exitError || !strings.Contains(out, events.CodeKeyRevoked) {
		t.Fatalf("restore of a revoked key: exit %d: %s", code, out)
	}
	if got := s.kvStatus(acc.Key); got != events.KeyRevoked {
		t.Fatalf("KV says %q after the refused restore", got)
	}
}

// TestOnekeyctl_KeySuspendRacingTheUsersRevokeLeavesItRevoked runs the
// operator's suspension and the user's revoke of the same key at once,
// several times: each key ends revoked in KV, at the gateway and in the
// tool's view, and cannot be restored.
func TestOnekeyctl_KeySuspendRacingTheUsersRevokeLeavesItRevoked(t *testing.T) {
	s := newStack(t)
	first := s.seed("race@example.com")
	gw, authURL := s.services()
	user := s.signIn(authURL, first.AccountID)
	suspendedFirst := 0
	for round := range 8 {
		acc := first
		if round > 0 {
			var err error
			if acc, err = s.auth.SeedAccount(context.Background(), "race@example.com", "round"); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var out string
		var code, status int
		wg.Go(func() { out, code = s.run("key", "suspend", acc.KeyID, "--reason", "race") })
		wg.Go(func() {
			// Later each round, so that both orders and overlaps occur.
			time.Sleep(time.Duration(round) * 4 * time.Millisecond)
			status, _ = user.do(http.MethodDelete, "/api/projects/"+acc.ProjectID+"/keys/"+acc.KeyID, "")
		})
		wg.Wait()
		if status != http.StatusOK {
			t.Fatalf("round %d: the user's revoke: %d", round, status)
		}
		// Either the suspension went first (exit 0) or it lost to the revoke.
		if code != 0 && !strings.Contains(out, events.CodeKeyRevoked) {
			t.Fatalf("round %d: suspend: exit %d: %s", round, code, out)
		}
		if code == 0 {
			suspendedFirst++
		}
		if got := s.kvStatus(acc.Key); got != events.KeyRevoked {
			t.Fatalf("round %d: KV says %q, want revoked", round, got)
		}
		s.waitChat(gw, acc.Key, http.StatusUnauthorized, "invalid_api_key")
		if out, code := s.run("key", "restore", acc.KeyID); code != exitError {
			t.Fatalf("round %d: restore of a revoked key: exit %d: %s", round, code, out)
		}
		if out, _ := s.run("account", "show", acc.AccountID); !strings.Contains(out, acc.KeyID) || keyLine(out, acc.KeyID, "revoked") == "" {
			t.Fatalf("round %d: account show does not list the key revoked: %s", round, out)
		}
	}
	t.Logf("the suspension answered first in %d of 8 rounds", suspendedFirst)
}

// keyLine is the line of account show's output about keyID if it has want.
func keyLine(out, keyID, want string) string {
	for l := range strings.Lines(out) {
		if strings.Contains(l, keyID) && strings.Contains(l, want) {
			return l
		}
	}
	return ""
}

// TestOnekeyctl_KeyListSuspendedShowsExactlyTheKeysStillSuspended suspends
// three keys of two accounts, restores one and lets the user revoke
// another: the list has exactly the one left, with its account, actor and
// the reason as written.
func TestOnekeyctl_KeyListSuspendedShowsExactlyTheKeysStillSuspended(t *testing.T) {
	s := newStack(t)
	held, restored := s.seed("held@example.com"), s.seed("restored@example.com")
	revoked, err := s.auth.SeedAccount(context.Background(), "restored@example.com", "second")
	if err != nil {
		t.Fatal(err)
	}
	_, authURL := s.services()
	if out, code := s.run("key", "list", "--suspended"); code != 0 || !strings.Contains(out, "0 suspended key(s)") {
		t.Fatalf("key list before any suspension: exit %d: %s", code, out)
	}
	for key, reason := range map[string]string{held.KeyID: "abuse report #7: \"free\" credits resold", restored.KeyID: "chargeback", revoked.KeyID: "leaked on GitHub"} {
		if out, code := s.run("key", "suspend", key, "--reason", reason, "--actor", "bob"); code != 0 {
			t.Fatalf("suspend %s: exit %d: %s", key, code, out)
		}
	}
	if out, code := s.run("key", "restore", restored.KeyID); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, out)
	}
	user := s.signIn(authURL, revoked.AccountID)
	if status, body := user.do(http.MethodDelete, "/api/projects/"+revoked.ProjectID+"/keys/"+revoked.KeyID, ""); status != http.StatusOK {
		t.Fatalf("the user's revoke: %d %s", status, body)
	}

	out, code := s.run("key", "list", "--suspended")
	if code != 0 || !strings.Contains(out, "1 suspended key(s)") {
		t.Fatalf("key list --suspended: exit %d: %s", code, out)
	}
	line := keyLine(out, held.KeyID, held.AccountID)
	for _, want := range []string{"operator:bob", `"abuse report #7: \"free\" credits resold"`, time.Now().UTC().Format(time.DateOnly)} {
		if !strings.Contains(line, want) {
			t.Errorf("the held key's line %q has no %s", line, want)
		}
	}
	for _, gone := range []string{restored.KeyID, revoked.KeyID} {
		if strings.Contains(out, gone) {
			t.Errorf("key list --suspended lists %s, which is not suspended: %s", gone, out)
		}
	}
}

// TestOnekeyctl_KeyCommandsHaveHelpAndRefuseASuspensionWithoutAReason.
func TestOnekeyctl_KeyCommandsHaveHelpAndRefuseASuspensionWithoutAReason(t *testing.T) {
	s := &stack{t: t, env: map[string]string{"USER": "alice"}}
	if out, code := s.run("--help"); code != 0 || !strings.Contains(out, "key suspend") || !strings.Contains(out, "key restore") || !strings.Contains(out, "key list --suspended") {
		t.Fatalf("--help: exit %d: %s", code, out)
	}
	for _, c := range []struct {
		args []string
		flag string
	}{{[]string{"key", "suspend", "--help"}, "-actor"}, {[]string{"key", "restore", "-h"}, "-actor"}, {[]string{"key", "list", "--help"}, "-suspended"}} {
		if out, code := s.run(c.args...); code != 0 || !strings.Contains(out, "usage: onekeyctl "+c.args[0]+" "+c.args[1]) || !strings.Contains(out, c.flag) {
			t.Fatalf("%v: exit %d: %s", c.args, code, out)
		}
	}
	for name, args := range map[string][]string{
		"no reason":          {"key", "suspend", "key_1"},
		"no key":             {"key", "suspend", "--reason", "r"},
		"two keys":           {"key", "restore", "key_1", "key_2"},
		"no command":         {"key"},
		"list without what":  {"key", "list"},
		"list with argument": {"key", "list", "--suspended", "acc_1"},
	} {
		t.Run(name, func(t *testing.T) {
			if out, code := s.run(args...); code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, out)
			}
		})
	}
}
