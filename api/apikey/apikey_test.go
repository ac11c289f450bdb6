package apikey_test

import (
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/apikey"
)

func TestAPIKey_NewKeysCheckAndAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		k, err := apikey.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := apikey.Check(k); err != nil {
			t.Fatalf("fresh key %q fails its own check: %v", k, err)
		}
		if seen[k] {
			t.Fatal("duplicate key")
		}
		seen[k] = true
		if !strings.HasPrefix(k, "sk-onekey-") || len(k) != apikey.Len {
			t.Fatalf("key %q has the wrong shape", k)
		}
	}
}

func TestAPIKey_MistypedKeysAreRefusedBeforeLookup(t *testing.T) {
	t.Parallel()
	k, _ := apikey.New(nil)
	flip := []byte(k)
	if flip[15] == 'a' {
		flip[15] = 'b'
	} else {
		flip[15] = 'a'
	}
	for _, bad := range []string{"", "sk-onekey-", k[:len(k)-1], k + "x", "sk-other-" + k[9:], string(flip), strings.Replace(k, k[12:13], "!", 1)} {
		if apikey.Check(bad) == nil {
			t.Errorf("Check accepted %q", bad)
		}
	}
}

func TestAPIKey_HashIsHexSHA256AndDisplayHidesTheSecret(t *testing.T) {
	t.Parallel()
	if h := apikey.Hash("abc"); h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Hash(abc) = %s", h)
	}
	k, _ := apikey.New(nil)
	if d := apikey.Display(k); len(d) != apikey.DisplayLen || strings.Contains(k[apikey.DisplayLen:], d[len(d)-1:]+k[apikey.DisplayLen:]) && len(d) > len(k)/2 {
		t.Errorf("Display(%q) = %q", k, d)
	}
}
