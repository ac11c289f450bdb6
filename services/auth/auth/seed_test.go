package auth_test

import (
	"context"
	"testing"
)

func TestSeedAccount_IsTheAccountItsOwnerSignsInToWhateverTheCaseOfTheAddress(t *testing.T) {
	h := newHarness(t)
	seeded, err := h.svc.SeedAccount(context.Background(), "  Ada@Example.COM ", "seed")
	if err != nil {
		t.Fatal(err)
	}
	_, m := h.signIn("ada@example.com")
	if m.AccountID != seeded.AccountID {
		t.Fatalf("signing in as ada@example.com opened account %s, not the seeded %s", m.AccountID, seeded.AccountID)
	}
	if _, err := h.svc.SeedAccount(context.Background(), "not an address", "seed"); err == nil {
		t.Error("seeding a malformed address succeeded")
	}
}
