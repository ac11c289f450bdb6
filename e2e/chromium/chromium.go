// Package chromium finds the Chromium the browser tests drive, and installs
// it the way the tests install stripe-mock: on first use, with the tools
// the machine already has. It never lets a test pass without a browser:
// when Chromium can be neither found nor installed, Find returns an error
// that names the one command that installs it.
package chromium

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// EnvVar names the Chromium (or Chrome) binary to use, before PATH.
const EnvVar = "ONEKEY_CHROMIUM"

// Names are the executables looked for on PATH, in this order.
func Names() []string {
	return []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"}
}

// InstallCommand is the command that installs Chromium on Debian and Ubuntu.
const InstallCommand = "apt-get install -y chromium"

// Finder finds or installs Chromium. The zero value is not usable: build it
// with NewFinder, or fill every field (tests replace the system's parts).
type Finder struct {
	// Getenv reads the environment (ONEKEY_CHROMIUM).
	Getenv func(string) string
	// LookPath finds an executable on PATH.
	LookPath func(string) (string, error)
	// Root reports whether the process may install system packages.
	Root func() bool
	// OSRelease is the path of os-release(5), which tells Debian and Ubuntu.
	OSRelease string
	// LockFile serializes installs across processes (go test runs one test
	// binary per package, in parallel).
	LockFile string
	// Run runs a command with its output to log.
	Run func(ctx context.Context, log io.Writer, name string, args ...string) error
}

// NewFinder returns a Finder over the real system.
func NewFinder() *Finder {
	return &Finder{
		Getenv:    os.Getenv,
		LookPath:  exec.LookPath,
		Root:      func() bool { return os.Geteuid() == 0 },
		OSRelease: "/etc/os-release",
		LockFile:  filepath.Join(os.TempDir(), "onekey-chromium-install.lock"),
		Run:       run,
	}
}

// Find returns the path of Chromium: $ONEKEY_CHROMIUM, else the first of
// chromium, chromium-browser, google-chrome, google-chrome-stable and chrome
// on PATH; else, as root on Debian or Ubuntu, it installs the distribution's
// chromium package (apt-get install -y chromium, after apt-get update if the
// package lists do not know it) under a file lock so that test binaries
// running in parallel install it once; else it fails naming the command.
// log receives the installer's output.
func (f *Finder) Find(ctx context.Context, log io.Writer) (string, error) {
	if p := f.Getenv(EnvVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvVar, p, err)
		}
		return p, nil
	}
	if p, ok := f.onPath(); ok {
		return p, nil
	}
	if !f.debian() {
		return "", fmt.Errorf("chromium: not found on PATH (%s) and %s not set: install Chromium with your package manager (on Debian or Ubuntu: sudo %s) or set %s to its path",
			strings.Join(Names(), ", "), EnvVar, InstallCommand, EnvVar)
	}
	if !f.Root() {
		return "", fmt.Errorf("chromium: not found on PATH (%s) and %s not set; install it with: sudo %s", strings.Join(Names(), ", "), EnvVar, InstallCommand)
	}
	if err := f.install(ctx, log); err != nil {
		return "", fmt.Errorf("chromium: %s failed (%w); run it yourself, or set %s", InstallCommand, err, EnvVar)
	}
	if p, ok := f.onPath(); ok {
		return p, nil
	}
	return "", fmt.Errorf("chromium: %s ran but none of %s is on PATH; set %s", InstallCommand, strings.Join(Names(), ", "), EnvVar)
}

func (f *Finder) onPath() (string, bool) {
	for _, n := range Names() {
		if p, err := f.LookPath(n); err == nil {
			return p, true
		}
	}
	return "", false
}

// debian reports whether os-release names Debian or Ubuntu (or a
// derivative of either) and apt-get is there.
func (f *Finder) debian() bool {
	raw, err := os.ReadFile(f.OSRelease)
	if err != nil {
		return false
	}
	if _, err := f.LookPath("apt-get"); err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || (k != "ID" && k != "ID_LIKE") {
			continue
		}
		for _, id := range strings.Fields(strings.Trim(v, `"'`)) {
			if id == "debian" || id == "ubuntu" {
				return true
			}
		}
	}
	return false
}

// install runs apt-get under an exclusive lock on LockFile; whoever gets
// the lock second finds Chromium already installed and does nothing.
func (f *Finder) install(ctx context.Context, log io.Writer) error {
	lf, err := os.OpenFile(f.LockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("install lock: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("install lock: %w", err)
	}
	defer func() { _ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) }()
	if _, ok := f.onPath(); ok {
		return nil
	}
	fmt.Fprintf(log, "chromium: not found; installing it with %s (once per machine)\n", InstallCommand)
	args := strings.Fields(InstallCommand)
	err = f.Run(ctx, log, args[0], args[1:]...)
	if err == nil {
		return nil
	}
	// A fresh image has empty package lists: update them and try again.
	if uerr := f.Run(ctx, log, "apt-get", "update"); uerr != nil {
		return errors.Join(err, fmt.Errorf("apt-get update: %w", uerr))
	}
	return f.Run(ctx, log, args[0], args[1:]...)
}

func run(ctx context.Context, log io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
