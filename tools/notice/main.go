// Command notice sends a notice mail to every user of onekey (a security
// incident, a material change of the privacy policy) through the
// notifier, once per user however often it is run with the same notice id.
//
//	go run ./tools/notice send --id privacy-2027-01 --subject "..." --body-file notice.txt [--dry-run]
//
// It reads auth's users from MONGODB_URI/MONGODB_DB (account ids only,
// never an address), records the notice and each user's delivery there,
// and publishes one notice.requested per user to the NOTICES stream on
// NATS_URL; the notifier looks the address up and mails it at its own
// pace. Exit status: 0 done, 1 refused or failed, 2 usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// errUsage is a bad command line (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "notice:", err)
		os.Exit(1)
	}
}

const usage = `Usage: notice send --id ID --subject SUBJECT --body-file FILE [--dry-run]

Sends a notice mail to every user (not deleted) through the notifier: one
mail per user, once, however often it is run with the same id. Run it again
after a crash or an interruption to finish the send. A second run with the
same id and another subject or text is refused: use a new id.

Environment:
  MONGODB_URI, MONGODB_DB   auth's database (reads users' ids; writes notices, notice_deliveries)
  NATS_URL                  the bus (publishes notice.requested.<account>; not needed with --dry-run)
  NATS_CREDS_FILE           bus user notice's credentials file (devstack: <data>/creds/notice.nk)

Flags:
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "send" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, usage)
			return nil
		}
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("notice send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o sendOptions
	fs.StringVar(&o.ID, "id", "", "the notice's id: letters, digits, '-' and '_' (it names the notice for good)")
	fs.StringVar(&o.Subject, "subject", "", "the mail's subject")
	fs.StringVar(&o.BodyFile, "body-file", "", "a UTF-8 text file: the mail's text (paragraphs separated by blank lines)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print how many users would get the mail, send nothing")
	fs.IntVar(&o.ProgressEvery, "progress-every", 100, "print progress after every N users")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(stderr, "notice:", err)
		fs.Usage()
		return errUsage
	}
	body, err := os.ReadFile(o.BodyFile)
	if err != nil {
		return fmt.Errorf("read the body: %w", err)
	}
	o.Text = string(body)
	env, err := envFrom(getenv, o.DryRun)
	if err != nil {
		return err
	}
	return send(ctx, env, o, stdout)
}
