// Command busadmin is the bus's privileged identity: it declares every
// stream, durable consumer and KV bucket (services only bind to them), and
// makes the bus users' credentials and the nats-server configuration that
// admits them (pkg/bus/users.go says who may do what).
//
//	go run ./tools/busadmin declare            # NATS_URL, NATS_CREDS_FILE (admin), NATS_STREAM_REPLICAS, LEDGER_PARTITIONS
//	go run ./tools/busadmin ledger-consumers   # the ledger's consumers of every partition count, with their backlog
//	go run ./tools/busadmin keys --out DIR     # DIR/<user>.nk for each user, DIR/nats-users.env for the servers
//	go run ./tools/busadmin nats-config        # the users block of nats.conf (deployments/nats/users.conf)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
)

const usageText = `busadmin: the bus's admin identity.

Usage:
  busadmin declare [--timeout D]   declare every stream, consumer and KV bucket (idempotent; run at every
                                   deployment, before or after the services: they wait for it)
  busadmin keys --out DIR          write an nkey seed per bus user, DIR/<user>.nk (kept if present), and
                                   DIR/nats-users.env: ONEKEY_NKEY_<USER>=<public key> for the NATS servers
  busadmin nats-config             print the nats-server users and permissions (deployments/nats/users.conf)
  busadmin ledger-consumers [--delete-drained]
                                   list the ledger's consumers of every partition count with what each still
                                   holds; exit 1 while one of another count than LEDGER_PARTITIONS holds
                                   messages; --delete-drained deletes those once all are drained

Environment (declare):
  NATS_URL               the bus (required)
  NATS_CREDS_FILE        the admin user's credentials file (an nkey seed; unset: no authentication)
  NATS_STREAM_REPLICAS   replicas of every stream and bucket: 1, 3 or 5 (default 1; 3 on a cluster)
  LEDGER_PARTITIONS      partitions of the ledger's streams, 1 to 64 (default 1: none); see the README
                         for changing it

Users: %s; each service reads its own file from NATS_CREDS_FILE.
`

func usage() string { return fmt.Sprintf(usageText, strings.Join(bus.Users(), ", ")) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if errors.Is(err, errBacklog) {
			fmt.Fprintln(os.Stderr, "busadmin:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "busadmin:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage())
		if len(args) == 0 {
			return errors.New("no command")
		}
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("busadmin "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage()) }
	switch args[0] {
	case "declare":
		timeout := fs.Duration("timeout", 0, "give up after this long (0: retry until it works or a signal)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return declare(ctx, getenv, *timeout, stdout)
	case "keys":
		out := fs.String("out", "", "directory for the credentials files (required)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" {
			return errors.New("keys: --out is required")
		}
		return keys(*out, stdout)
	case "ledger-consumers":
		del := fs.Bool("delete-drained", false, "delete the consumers of other partition counts, once all are drained")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return ledgerConsumers(ctx, getenv, *del, stdout)
	case "nats-config":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		_, err := io.WriteString(stdout, bus.ServerConfig())
		return err
	}
	fmt.Fprint(stderr, usage())
	return fmt.Errorf("unknown command %q", args[0])
}

// declare declares the topology as the admin, retrying with backoff while
// the bus cannot take it yet (a cluster still forming cannot place R3
// streams: "context deadline exceeded").
func declare(ctx context.Context, getenv func(string) string, timeout time.Duration, out io.Writer) error {
	r := config.NewReader(getenv)
	bcfg := bus.ConfigFrom(r, bus.UserAdmin)
	bcfg.Name = "busadmin"
	top := bus.TopologyFrom(r)
	if err := r.Err(); err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	b, err := bus.Connect(ctx, bcfg)
	if err != nil {
		return err
	}
	defer b.Close()
	pause := time.Duration(0)
	for {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := b.Declare(dctx, top)
		cancel()
		if err == nil {
			fmt.Fprintf(out, "declared every stream, consumer and bucket (replicas %d, ledger partitions %d)\n", top.Replicas, top.LedgerPartitions)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("declare: %w (last: %v)", ctx.Err(), err)
		}
		pause = min(max(2*pause, 250*time.Millisecond), 10*time.Second)
		fmt.Fprintf(out, "declare: %v; retrying in %s\n", err, pause)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// keys writes the users' credentials files (keeping those present) and the
// servers' environment file of public keys.
func keys(dir string, out io.Writer) error {
	creds, err := bus.LoadOrCreateCredentials(dir)
	if err != nil {
		return err
	}
	pubs, err := creds.PublicKeys()
	if err != nil {
		return err
	}
	var env strings.Builder
	env.WriteString("# Public nkeys of the onekey bus users, for nats-server (deployments/nats/users.conf). Not secret.\n")
	for _, u := range bus.Users() {
		fmt.Fprintf(&env, "%s=%s\n", bus.NkeyEnv(u), pubs[u])
	}
	envFile := filepath.Join(dir, "nats-users.env")
	if err := os.WriteFile(envFile, []byte(env.String()), 0o644); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	fmt.Fprintf(out, "credentials in %s (<user>%s, secret), public keys in %s\n", dir, bus.CredsExt, envFile)
	return nil
}

// errBacklog is ledger-consumers' exit 1: an old partition count's
// consumers still hold messages.
var errBacklog = errors.New("consumers of another partition count still hold messages")

// ledgerConsumers prints every ledger consumer with its backlog, and with
// del deletes those of other partition counts once all are drained.
func ledgerConsumers(ctx context.Context, getenv func(string) string, del bool, out io.Writer) error {
	r := config.NewReader(getenv)
	bcfg := bus.ConfigFrom(r, bus.UserAdmin)
	bcfg.Name = "busadmin"
	top := bus.TopologyFrom(r)
	if err := r.Err(); err != nil {
		return err
	}
	b, err := bus.Connect(ctx, bcfg)
	if err != nil {
		return err
	}
	defer b.Close()
	all, err := b.LedgerBacklogs(ctx)
	if err != nil {
		return err
	}
	waiting := false
	for _, l := range all {
		fmt.Fprintf(out, "%-28s partitions %-3d partition %-3d pending %-8d unacked %d\n", l.Consumer, l.Partitions, l.Partition, l.Pending, l.AckPending)
		if l.Partitions != top.LedgerPartitions && !l.Drained() {
			waiting = true
		}
	}
	if waiting {
		return errBacklog
	}
	if !del {
		return nil
	}
	deleted, err := b.DeleteLedgerConsumers(ctx, top.LedgerPartitions)
	for _, d := range deleted {
		fmt.Fprintf(out, "deleted %s\n", d)
	}
	return err
}
