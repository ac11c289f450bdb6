// Command cataloggen writes api/catalog/models.json from a pinned snapshot of
// LiteLLM's model_prices_and_context_window.json and the hand-kept
// selection.json beside this file. It is deterministic: the same two inputs
// always give the same bytes.
//
//	go run ./tools/cataloggen -litellm path/to/model_prices_and_context_window.json
//
// To refresh: take a newer snapshot of the file, put its label and SHA-256 in
// selection.json's source, adjust the selection (new models, retired ids as
// aliases of their successors), run the command and review the diff.
// Prices are converted from their decimal text exactly; a price that is not
// a whole number of micro-USD per million tokens stops the run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cataloggen:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("cataloggen", flag.ContinueOnError)
	litellm := fs.String("litellm", "", "the LiteLLM model_prices_and_context_window.json snapshot pinned in the selection (required)")
	selection := fs.String("selection", "tools/cataloggen/selection.json", "the selection file")
	out := fs.String("out", "api/catalog/models.json", "where to write the catalog")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *litellm == "" {
		return errors.New("-litellm is required")
	}
	snap, err := os.ReadFile(*litellm)
	if err != nil {
		return fmt.Errorf("read LiteLLM snapshot: %w", err)
	}
	sel, err := os.ReadFile(*selection)
	if err != nil {
		return fmt.Errorf("read selection: %w", err)
	}
	b, err := generate(snap, sel)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	return nil
}
