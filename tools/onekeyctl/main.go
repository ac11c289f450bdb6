// Command onekeyctl is the operator's tool: look up an account, adjust its
// credit, suspend and restore a key, list and replay dead letters, and run
// the ledger's reconciliation.
//
//	NATS_URL=nats://... MONGODB_URI=mongodb://... onekeyctl <command> [args] [flags]
//	onekeyctl --help
//
// Exit codes: 0 done; 1 the check or lookup failed (reconcile found a
// difference, the account or dead letter does not exist); 2 a usage or
// configuration error; 3 the operation could not be carried out (bus or
// database unreachable, refused by a service).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitError  = 3
)

// errUsage marks a wrong command line or configuration.
var errUsage = errors.New("usage")

// errFailed marks a check that failed or a thing that was not found: the
// tool worked, the answer is no.
var errFailed = errors.New("failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "onekeyctl:", err)
	}
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errFailed):
		return exitFailed
	default:
		return exitError
	}
}

const usage = `onekeyctl: the operator's tool for onekey

Commands:
  account show <email|account id>            balance, free requests, keys, last payments
  credit adjust <account id> <amount USD> --reason "..." --id <stable id> [--actor name]
                                             publish credit.adjusted (a retry with the same --id applies once)
  key suspend <key id> --reason "..." [--actor name]
                                             auth refuses the key at the gateway (403 key_suspended) until restored
  key restore <key id> [--actor name]        lift a suspension (a revoked key stays revoked)
  key list --suspended                       every suspended key: since, key, account, actor, reason
  dlq list                                   list the DEADLETTER stream
  dlq replay <seq>|--all                     republish dead letters to their original subjects (original Nats-Msg-Id)
  reconcile                                  check every account against the ledger's journal

Environment:
  NATS_URL         the bus (credit, key, dlq)
  NATS_CREDS_FILE  the bus admin's credentials file (devstack: <data>/creds/admin.nk)
  MONGODB_URI      the database (account, credit, key list, reconcile)
  MONGODB_DB       its name (default onekey)
  ONEKEYCTL_TIMEOUT  how long one command may take (default 1m)

Exit codes: 0 done, 1 check failed or not found, 2 usage, 3 could not be carried out.
Run "onekeyctl <command> --help" for a command's flags.
`

// env is the tool's configuration and its connections, opened on demand.
type env struct {
	getenv func(string) string
	out    io.Writer
	st     *store.Store
	bus    *bus.Bus
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, usage)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command", errUsage)
		}
		return nil
	}
	r := config.NewReader(getenv)
	timeout := r.Duration("ONEKEYCTL_TIMEOUT", time.Minute)
	if err := r.Err(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	e := &env{getenv: getenv, out: out}
	defer e.close(ctx)

	cmd, sub, rest := args[0], "", args[1:]
	if cmd != "reconcile" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") && rest[0] != "-h" && rest[0] != "--help" {
			return fmt.Errorf("%w: %s needs a subcommand (see onekeyctl --help)", errUsage, cmd)
		}
		sub, rest = rest[0], rest[1:]
		if sub == "-h" || sub == "--help" {
			fmt.Fprint(out, usage)
			return nil
		}
	}
	switch cmd + " " + sub {
	case "account show":
		return e.accountShow(ctx, rest)
	case "credit adjust":
		return e.creditAdjust(ctx, rest)
	case "key suspend":
		return e.keySuspend(ctx, rest)
	case "key restore":
		return e.keyRestore(ctx, rest)
	case "key list":
		return e.keyList(ctx, rest)
	case "dlq list":
		return e.dlqList(ctx, rest)
	case "dlq replay":
		return e.dlqReplay(ctx, rest)
	case "reconcile ":
		return e.reconcile(ctx, rest)
	}
	return fmt.Errorf("%w: unknown command %q (see onekeyctl --help)", errUsage, strings.TrimSpace(cmd+" "+sub))
}

// store opens the database once.
func (e *env) store(ctx context.Context) (*store.Store, error) {
	if e.st != nil {
		return e.st, nil
	}
	r := config.NewReader(e.getenv)
	uri := r.Required("MONGODB_URI")
	db := r.String("MONGODB_DB", "onekey")
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	st, err := store.Open(ctx, uri, db, nil)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	e.st = st
	return st, nil
}

// connect dials the bus once.
func (e *env) connect(ctx context.Context) (*bus.Bus, error) {
	if e.bus != nil {
		return e.bus, nil
	}
	r := config.NewReader(e.getenv)
	url := r.Required("NATS_URL")
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	creds := r.String("NATS_CREDS_FILE", "")
	b, err := bus.Connect(ctx, bus.Config{URL: url, Name: "onekeyctl", User: bus.UserAdmin, CredsFile: creds})
	if err != nil {
		return nil, err
	}
	e.bus = b
	return b, nil
}

func (e *env) close(ctx context.Context) {
	if e.bus != nil {
		e.bus.Close()
	}
	if e.st != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = e.st.Close(cctx)
	}
}

// parse parses args into fs, flags and positional arguments in any order
// (a negative amount such as -5 is positional), and requires exactly n
// positional arguments. It returns them.
func parse(fs *flag.FlagSet, args []string, n int, out io.Writer) ([]string, error) {
	fs.SetOutput(out)
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || len(a) > 1 && (a[1] >= '0' && a[1] <= '9' || a[1] == '.') {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // fs.Parse reports it
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); (!ok || !bf.IsBoolFlag()) && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if n >= 0 && len(pos) != n {
		fs.Usage()
		return nil, fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, fs.Name(), n, len(pos))
	}
	return pos, nil
}
