package chromium_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/onekey-oss/onekey/e2e/chromium"
)

// fakeSystem is a machine on which Chromium appears on PATH once apt-get
// install has run.
type fakeSystem struct {
	mu        sync.Mutex
	root      bool
	installed bool
	listsOK   bool
	runs      []string
}

func (s *fakeSystem) finder(t *testing.T, osRelease string) *chromium.Finder {
	dir := t.TempDir()
	rel := filepath.Join(dir, "os-release")
	if err := os.WriteFile(rel, []byte(osRelease), 0o600); err != nil {
		t.Fatal(err)
	}
	return &chromium.Finder{
		Getenv: func(string) string { return "" },
		LookPath: func(name string) (string, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if name == "apt-get" || (name == "chromium" && s.installed) {
				return "/usr/bin/" + name, nil
			}
			return "", errors.New("not found")
		},
		Root:      func() bool { return s.root },
		OSRelease: rel,
		LockFile:  filepath.Join(dir, "lock"),
		Run: func(_ context.Context, _ io.Writer, name string, args ...string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			cmd := name + " " + strings.Join(args, " ")
			s.runs = append(s.runs, cmd)
			switch {
			case cmd == "apt-get update":
				s.listsOK = true
			case cmd == chromium.InstallCommand && s.listsOK:
				s.installed = true
			case cmd == chromium.InstallCommand:
				return errors.New("E: Unable to locate package chromium")
			}
			return nil
		},
	}
}

const debianRelease = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"

func TestFind_EnvironmentVariableComesFirst(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "my-chrome")
	if err := os.WriteFile(bin, nil, 0o700); err != nil {
		t.Fatal(err)
	}
	sys := &fakeSystem{root: true, installed: true}
	f := sys.finder(t, debianRelease)
	f.Getenv = func(k string) string {
		if k == chromium.EnvVar {
			return bin
		}
		return ""
	}
	got, err := f.Find(context.Background(), io.Discard)
	if err != nil || got != bin {
		t.Fatalf("Find = %q, %v; want %q", got, err, bin)
	}
	if len(sys.runs) != 0 {
		t.Errorf("ran %v", sys.runs)
	}
}

func TestFind_AsRootOnDebianInstallsOnceAcrossConcurrentCallers(t *testing.T) {
	sys := &fakeSystem{root: true, listsOK: true}
	f := sys.finder(t, debianRelease)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := f.Find(context.Background(), io.Discard)
			if err != nil || got != "/usr/bin/chromium" {
				t.Errorf("Find = %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	if len(sys.runs) != 1 || sys.runs[0] != chromium.InstallCommand {
		t.Fatalf("ran %q, want %q once", sys.runs, chromium.InstallCommand)
	}
}

func TestFind_EmptyPackageListsAreUpdatedBeforeInstallingAgain(t *testing.T) {
	sys := &fakeSystem{root: true}
	f := sys.finder(t, "ID=ubuntu\nID_LIKE=debian\n")
	if _, err := f.Find(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	want := []string{chromium.InstallCommand, "apt-get update", chromium.InstallCommand}
	if strings.Join(sys.runs, "|") != strings.Join(want, "|") {
		t.Fatalf("ran %q, want %q", sys.runs, want)
	}
}

func TestFind_WithoutRootFailsNamingTheInstallCommand(t *testing.T) {
	sys := &fakeSystem{}
	_, err := sys.finder(t, debianRelease).Find(context.Background(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sudo "+chromium.InstallCommand) {
		t.Fatalf("err = %v, want one naming %q", err, "sudo "+chromium.InstallCommand)
	}
	if len(sys.runs) != 0 {
		t.Errorf("ran %v without root", sys.runs)
	}
}

func TestFind_OtherSystemsFailNamingTheVariable(t *testing.T) {
	sys := &fakeSystem{root: true}
	_, err := sys.finder(t, "ID=fedora\n").Find(context.Background(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), chromium.EnvVar) {
		t.Fatalf("err = %v", err)
	}
	if len(sys.runs) != 0 {
		t.Errorf("ran %v on a non-Debian system", sys.runs)
	}
}
