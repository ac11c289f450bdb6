// Command devstack runs the whole of onekey in one process on embedded
// NATS JetStream and FerretDB: `go run ./tools/devstack` from the repo root.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/onekey-oss/onekey/tools/devstack/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := stack.ParseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	cfg.Getenv = os.Getenv
	return stack.Run(ctx, cfg, os.Stdout)
}
