package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/notices"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

// runAsCommand makes the test binary run main() instead of the tests: the
// tests start it as a real subprocess, which they can kill.
const runAsCommand = "ONEKEY_NOTICE_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(runAsCommand) == "1" {
		main()
		os.Exit(0)
	}
	storetest.Main(m)
}

// command runs the notice command as a subprocess with env and returns its
// output and how it ended.
func command(t *testing.T, env []string, args ...string) (string, *os.ProcessState) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runAsCommand+"=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("notice %v: %v", args, err)
	}
	t.Logf("notice %v:\n%s", args, out.String())
	return out.String(), cmd.ProcessState
}

func TestNotice_RunTwiceAndKilledHalfWayMailsEveryUserExactlyOnce(t *testing.T) {
	srv := bustest.Start(t)
	st := storetest.New(t)
	rs := resendtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// 30 users, and one deleted, who must get nothing.
	const users = 30
	now := time.Now().UTC()
	for i := range users {
		_, err := st.Collection("users").InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("acc_%03d", i)}, {Key: "email", Value: fmt.Sprintf("user%03d@example.com", i)}, {Key: "created_at", Value: now}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Collection("users").InsertOne(ctx, bson.D{{Key: "_id", Value: "acc_gone"}, {Key: "email", Value: "gone@example.com"}, {Key: "created_at", Value: now}, {Key: "deleted_at", Value: now}}); err != nil {
		t.Fatal(err)
	}

	nt, err := notifier.New(notifier.Config{MailSealKey: events.NewMailSealKey(), ResendAPIKey: resendtest.APIKey, ResendBaseURL: rs.URL(), From: "onekey <noreply@onekey.test>",
		SiteURL: "https://onekey.test", NoticeInterval: time.Millisecond, RetryBackoff: 50 * time.Millisecond,
		// Resend fails the first sends (below): a notice is retried until
		// it goes, never dead-lettered after MaxDeliveries.
		SendAttempts: 1, MaxDeliveries: 1}, notifier.Deps{Bus: srv.ConnectAs(t, bus.UserNotifier), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	nctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- nt.Run(nctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("notifier: %v", err)
		}
	})

	rs.FailNext(3, 503)
	body := filepath.Join(t.TempDir(), "notice.txt")
	if err := os.WriteFile(body, []byte("Hello,\n\nFrom 1 January 2027 usage metadata is kept 60 days.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"MONGODB_URI=" + storetest.URI(t), "MONGODB_DB=" + st.DB().Name(), "NATS_URL=" + srv.ClientURL(), "NATS_CREDS_FILE=" + srv.CredsFile(bus.UserNotice)}
	args := []string{"send", "--id", "privacy-2027-01", "--subject", "A change to our privacy policy", "--body-file", body, "--progress-every", "5"}

	// Run 1: killed (SIGKILL) after recording the 16th user's delivery,
	// before publishing it.
	_, ps := command(t, append(env, "NOTICE_FAILPOINT=kill-before-publish:16"), args...)
	if ws, ok := ps.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the first run ended %v, want killed by SIGKILL", ps)
	}
	if n := countDeliveries(t, st, notices.StatePublished); n != 15 {
		t.Fatalf("after the kill %d deliveries are published, want 15", n)
	}
	if n := countDeliveries(t, st, notices.StateQueued); n != 1 {
		t.Fatalf("after the kill %d deliveries are queued, want 1 (the 16th)", n)
	}

	// A dry run tells what is left, sends nothing.
	out, ps := command(t, env, append(args, "--dry-run")...)
	if ps.ExitCode() != 0 || !strings.Contains(out, "would be sent to 15 users (30 users, 15 already sent)") {
		t.Fatalf("dry run: exit %d, %q", ps.ExitCode(), out)
	}

	// Another text under the same id is refused.
	other := filepath.Join(t.TempDir(), "other.txt")
	if err := os.WriteFile(other, []byte("Something else."), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, ps := command(t, env, "send", "--id", "privacy-2027-01", "--subject", "A change to our privacy policy", "--body-file", other); ps.ExitCode() != 1 || !strings.Contains(out, "use a new --id") {
		t.Fatalf("same id, other text: exit %d, %q", ps.ExitCode(), out)
	}

	// Run 2 finishes the send; run 3, the same again, publishes nothing.
	out, ps = command(t, env, args...)
	if ps.ExitCode() != 0 || !strings.Contains(out, "30 users: 15 published now (1 of them left queued by an earlier run), 15 already published before") || !strings.Contains(out, "progress: 20 users") {
		t.Fatalf("second run: exit %d, %q", ps.ExitCode(), out)
	}
	out, ps = command(t, env, args...)
	if ps.ExitCode() != 0 || !strings.Contains(out, "30 users: 0 published now (0 of them left queued by an earlier run), 30 already published before") {
		t.Fatalf("third run: exit %d, %q", ps.ExitCode(), out)
	}

	// Exactly one mail per user at the fake Resend, none to the deleted one.
	deadline := time.Now().Add(time.Minute)
	for len(rs.Mails()) < users && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would come now
	per := map[string]int{}
	for _, m := range rs.Mails() {
		for _, to := range m.To {
			per[to]++
		}
		if m.Subject != "A change to our privacy policy" || !strings.Contains(m.Text, "60 days") {
			t.Errorf("mail %q: %.80q", m.Subject, m.Text)
		}
	}
	for i := range users {
		if to := fmt.Sprintf("user%03d@example.com", i); per[to] != 1 {
			t.Errorf("%s got %d mails, want 1", to, per[to])
		}
	}
	if len(per) != users {
		t.Errorf("mails went to %d addresses, want %d: %v", len(per), users, per)
	}
}

func countDeliveries(t *testing.T, st *store.Store, state string) int64 {
	t.Helper()
	n, err := st.Collection(notices.CollDeliveries).CountDocuments(context.Background(), bson.D{{Key: "state", Value: state}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNotice_HelpAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"send", "--help"}, func(string) string { return "" }, &out, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(errOut.String(), "--dry-run") || !strings.Contains(errOut.String(), "NATS_URL") {
		t.Errorf("--help shows %q", errOut.String())
	}
	errOut.Reset()
	if err := run(context.Background(), []string{"send", "--id", "bad id!"}, func(string) string { return "" }, &out, &errOut); !errors.Is(err, errUsage) {
		t.Fatalf("a bad id: %v, want a usage error", err)
	}
}
