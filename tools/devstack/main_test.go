package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as devstack: with ONEKEY_DEVSTACK_CHILD set it
// runs main's own code path (signal handling included) in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("ONEKEY_DEVSTACK_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestDevstack_SIGINTStopsWithin5s(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "--data", dir,
		"--gateway-addr", "127.0.0.1:0", "--gateway-admin-addr", "127.0.0.1:0", "--account-addr", "127.0.0.1:0", "--payments-addr", "127.0.0.1:0", "--log-level", "error")
	cmd.Env = append(os.Environ(), "ONEKEY_DEVSTACK_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	up := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "demo API key: ") {
				up <- true
			}
		}
		close(up)
	}()
	select {
	case ok := <-up:
		if !ok {
			t.Fatal("devstack exited before printing the demo key")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("devstack printed no demo key within 2 minutes")
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("devstack exited uncleanly after SIGINT: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("devstack still running 5 s after SIGINT")
	}
}
