// Package browser drives the web dashboard in real headless Chromium for
// the end-to-end tests: one Chromium per test binary, a Page per tab that
// records console errors and requests to other origins, saves a screenshot
// of every page it visits and checks it with axe-core, and a test wallet
// (EIP-1193) whose key stays in Go.
package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/chromedp/chromedp"

	"github.com/onekey-oss/onekey/e2e/chromium"
)

// Flags are the Chromium switches the tests run with. Headless with no
// sandbox (tests run as root in containers), and with every background
// service off: on a closed network they would only log refused
// connections, and nothing but the pages under test should talk.
func Flags() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 900),
	}
}

// Browser is one running Chromium. It is safe for concurrent use: each
// Page opens in a browser context of its own (cookies and storage are not
// shared between pages of different NewPage calls).
type Browser struct {
	// focus serializes what needs the focused tab or the clipboard, which
	// the tabs of one browser share.
	focus sync.Mutex

	ctx     context.Context // the browser's own context (first tab)
	cancel  func()
	dataDir string
}

// Launch finds (or installs, see package chromium) Chromium and starts it
// with Flags and a fresh profile directory. log receives the installer's
// output when Chromium has to be installed.
func Launch(ctx context.Context, log io.Writer) (*Browser, error) {
	bin, err := chromium.NewFinder().Find(ctx, log)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "onekey-chromium-profile-")
	if err != nil {
		return nil, fmt.Errorf("chromium profile dir: %w", err)
	}
	opts := append(Flags(), chromedp.ExecPath(bin), chromedp.UserDataDir(dir))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start chromium %s: %w", bin, err)
	}
	return &Browser{ctx: bctx, cancel: func() { cancelBrowser(); cancelAlloc() }, dataDir: dir}, nil
}

// Close stops Chromium and removes its profile.
func (b *Browser) Close() error {
	b.cancel()
	return os.RemoveAll(b.dataDir)
}

// Shared starts one Browser on first use and hands the same one to every
// caller; Close stops it (call it from TestMain after m.Run).
type Shared struct {
	once sync.Once
	b    *Browser
	err  error
}

// Get returns the shared Browser, launching it on the first call.
func (s *Shared) Get(log io.Writer) (*Browser, error) {
	s.once.Do(func() { s.b, s.err = Launch(context.Background(), log) })
	return s.b, s.err
}

// Close stops the Browser if it was started.
func (s *Shared) Close() error {
	s.once.Do(func() { s.err = errors.New("closed") })
	if s.b == nil {
		return nil
	}
	return s.b.Close()
}
