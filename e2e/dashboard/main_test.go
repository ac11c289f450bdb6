// Package dashboard_test drives the web dashboard in real headless
// Chromium against the real services on the embedded bus and database
// (see harness_test.go), as a visitor would: the promises of issue 11's
// browser tests, one test per group.
package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/onekey-oss/onekey/e2e/browser"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

// suite is what the tests of this binary share: one database server and
// one Chromium (each test gets its own database and its own browser
// context). Written before m.Run, only read after.
var suite struct {
	db      *storetest.Server
	browser browser.Shared
}

func TestMain(m *testing.M) {
	db, err := storetest.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		os.Exit(1)
	}
	suite.db = db
	code := m.Run()
	if err := suite.browser.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "chromium:", err)
	}
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func newStore(t *testing.T) *store.Store { return suite.db.New(t) }

// visitor is a new browser session (its own cookies) for t.
func visitor(t *testing.T) *browser.Session {
	t.Helper()
	b, err := suite.browser.Get(t.Output())
	if err != nil {
		t.Fatalf("chromium: %v", err) // never a skip: these tests need a browser
	}
	return b.NewSession(t, os.Getenv)
}
