// Package reconcilecheck is the check tools/reconcile and onekeyctl's
// reconcile subcommand run: the ledger's accounts recomputed from its
// journal and the dashboard's read models checked against the rollups and
// the journal (ledger.Verify), every difference printed.
package reconcilecheck

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// ErrDifferences is returned when the journal and the accounts, or the
// read models and what they are built from, disagree.
var ErrDifferences = errors.New("differences found")

// Run verifies every account of st against its journal, prints each
// difference and a summary to out, and returns ErrDifferences when there
// is one. Run it while the ledger is stopped or idle: a batch being
// written shows as a difference (and is counted as pending).
func Run(ctx context.Context, st *store.Store, out io.Writer) error {
	rep, err := ledger.Verify(ctx, st)
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(out, "DIFFERENCE", p)
	}
	if rep.Pending > 0 {
		fmt.Fprintf(out, "note: %d batch(es) half-written; the ledger finishes them at its next start\n", rep.Pending)
	}
	fmt.Fprintf(out, "%d accounts, %d journal entries, %d differences\n", rep.Accounts, rep.Entries, len(rep.Problems))
	if !rep.OK() {
		return ErrDifferences
	}
	return nil
}
