package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// DemoCredit is what devstack's demo account starts with.
const DemoCredit = 5 * money.Dollar

// Demo is the demo account devstack creates on its first start.
type Demo struct {
	AccountID string `json:"account_id"`
	ProjectID string `json:"project_id"`
	KeyID     string `json:"key_id"`
	Key       string `json:"key"`
}

// ensureDemo returns the demo account, creating it on the first start of a
// data dir: an account with a project and an API key, and $5.00 of credit
// given by a CreditAdjusted event with a stable id, so that a restart, or a
// crash half-way through, never gives it twice.
func ensureDemo(ctx context.Context, env *Env) (Demo, error) {
	path := filepath.Join(env.Config.DataDir, "demo.json")
	var d Demo
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &d); err != nil {
			return Demo{}, fmt.Errorf("read %s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		d, err = env.createDemoAccount(ctx)
		if err != nil {
			return Demo{}, fmt.Errorf("create demo account: %w", err)
		}
		raw, _ := json.MarshalIndent(d, "", "  ")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return Demo{}, fmt.Errorf("write %s: %w", path, err)
		}
	default:
		return Demo{}, fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.WriteFile(filepath.Join(env.Config.DataDir, "demo-key"), []byte(d.Key+"\n"), 0o600); err != nil {
		return Demo{}, fmt.Errorf("write demo-key: %w", err)
	}
	// Publishing on every start is safe: the id makes it a no-op after the
	// first (JetStream's duplicate window, then the ledger's journal).
	if _, err := env.Bus.Publish(ctx, events.CreditAdjustedV1{
		V: 1, ID: "devstack-demo-credit:" + d.AccountID, Time: time.Now().UTC(),
		AccountID: d.AccountID, AmountMicros: DemoCredit, Reason: "devstack demo credit", Actor: "devstack",
	}); err != nil {
		return Demo{}, fmt.Errorf("credit demo account: %w", err)
	}
	return d, nil
}
