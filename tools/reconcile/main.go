// Command reconcile recomputes every account of the ledger from its journal
// (balance, free requests left, what each key was charged, each gateway
// replica's credit lease and what stays leased: available + leased = the
// sum of the journal) and reports each difference. It exits 1 when it finds one, 2 when it cannot run, 0 when
// every account equals the sum of its journal.
//
//	MONGODB_URI=mongodb://... MONGODB_DB=onekey go run ./tools/reconcile
//
// Run it while the ledger is stopped or idle: a batch being written shows as
// a difference (and is counted as pending).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/tools/internal/reconcilecheck"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	switch {
	case err == nil:
	case errors.Is(err, reconcilecheck.ErrDifferences):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "reconcile:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, out io.Writer) error {
	r := config.NewReader(getenv)
	uri := r.Required("MONGODB_URI")
	db := r.String("MONGODB_DB", "onekey")
	timeout := r.Duration("RECONCILE_TIMEOUT", 10*time.Minute)
	if err := r.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := store.Open(ctx, uri, db, nil)
	if err != nil {
		return err
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		_ = st.Close(cctx)
	}()
	return reconcilecheck.Run(ctx, st, out)
}
