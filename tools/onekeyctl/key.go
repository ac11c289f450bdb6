package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/onekey-oss/onekey/api/events"
)

// keySuspend and keyRestore ask auth, which owns API keys and alone writes
// KV apikeys, to suspend or restore a key (events.SubjectKeyStatus). Auth
// answers once the key's record, its document and KV apikeys say so; the
// gateway then refuses (403 key_suspended) or admits it within the time a
// KV update takes to reach it. Both are idempotent: run again after a
// timeout, they change nothing more.
func (e *env) keySuspend(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("key suspend", flag.ContinueOnError)
	reason := fs.String("reason", "", "why (required; recorded on the key with the actor, shown to the user on /keys and in their data export)")
	actor := fs.String("actor", "", "who is suspending it (default $USER); recorded as operator:<name>")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: onekeyctl key suspend <key id> --reason "..." [--actor name]

Suspends the key: the gateway refuses it with 403 key_suspended until
"onekeyctl key restore". Its user sees it suspended on the dashboard and can
revoke it but not restore it. Suspending a suspended key changes nothing.
The reason is shown to the key's user on their dashboard's /keys, in the
keys API and in their data export (with the time, and "operator" for who;
not your name): write it for them to read.`)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args, 1, e.out)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		fs.Usage()
		return fmt.Errorf("%w: key suspend needs --reason", errUsage)
	}
	return e.keyStatus(ctx, events.KeyStatusRequestV1{V: 1, KeyID: pos[0], Action: events.KeyActionSuspend,
		Actor: e.operator(*actor), Reason: strings.TrimSpace(*reason)})
}

func (e *env) keyRestore(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("key restore", flag.ContinueOnError)
	actor := fs.String("actor", "", "who is restoring it (default $USER); recorded as operator:<name>")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: onekeyctl key restore <key id> [--actor name]

Lifts a suspension: the gateway admits the key again. A revoked key is
refused (exit 3): revocation is for good. Restoring an active key changes
nothing.`)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args, 1, e.out)
	if err != nil {
		return err
	}
	return e.keyStatus(ctx, events.KeyStatusRequestV1{V: 1, KeyID: pos[0], Action: events.KeyActionRestore, Actor: e.operator(*actor)})
}

// operator is the actor recorded for a change: "operator:<name>".
func (e *env) operator(name string) string {
	if name = strings.TrimSpace(name); name == "" {
		name = e.getenv("USER")
	}
	if name == "" {
		name = "unknown"
	}
	return "operator:" + name
}

func (e *env) keyStatus(ctx context.Context, req events.KeyStatusRequestV1) error {
	b, err := e.connect(ctx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	msg, err := b.Conn().RequestWithContext(ctx, events.SubjectKeyStatus, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%s key %s: no auth service answers %s (is auth running?)", req.Action, req.KeyID, events.SubjectKeyStatus)
	}
	if err != nil {
		return fmt.Errorf("%s key %s: %w (safe to run again)", req.Action, req.KeyID, err)
	}
	var rep events.KeyStatusReplyV1
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return fmt.Errorf("%s key %s: decode auth's reply: %w", req.Action, req.KeyID, err)
	}
	switch rep.Code {
	case "":
	case events.CodeKeyNotFound:
		return fmt.Errorf("%w: %s", errFailed, rep.Error)
	case events.CodeBadRequest:
		return fmt.Errorf("%w: %s", errUsage, rep.Error)
	default: // revoked, unavailable
		return fmt.Errorf("%s key %s refused by auth (%s): %s", req.Action, req.KeyID, rep.Code, rep.Error)
	}
	what := "now"
	if !rep.Changed {
		what = "already"
	}
	fmt.Fprintf(e.out, "key %s of account %s is %s %s\n", rep.KeyID, rep.AccountID, what, rep.Status)
	return nil
}
