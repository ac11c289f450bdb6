package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ScreenshotsEnv names the directory the tests save their screenshots to;
// unset, they go to a temporary directory named in the test log.
const ScreenshotsEnv = "ONEKEY_SCREENSHOTS"

// Timeout bounds each browser action and each wait for the page.
const Timeout = 30 * time.Second

// Session is one test's visitor: a browser context of its own (cookies and
// storage shared by its pages, by nobody else), with the screenshots of
// every page it visits numbered in order. It is closed when the test ends.
type Session struct {
	b     *Browser
	t     testing.TB
	ctx   context.Context
	shots string
	n     atomic.Int32
}

// NewSession opens a browser context for t. Screenshots go to
// $ONEKEY_SCREENSHOTS/<test name>/ (getenv reads the variable), or, when it
// is unset, to a directory under t.TempDir(), named in the log either way.
func (b *Browser) NewSession(t testing.TB, getenv func(string) string) *Session {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: new browser context: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "screenshots")
	if root := getenv(ScreenshotsEnv); root != "" {
		dir = filepath.Join(root, fileSafe(t.Name()))
		_ = os.RemoveAll(dir) // this run's pictures only
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browser: screenshots: %v", err)
	}
	t.Logf("screenshots of %s: %s", t.Name(), dir)
	return &Session{b: b, t: t, ctx: ctx, shots: dir}
}

// Page is one tab. Every action fails the test on error. From the tab's
// first event it records console errors, uncaught exceptions, browser log
// errors, and requests to an origin other than the one of the document
// shown (a top-level navigation to another origin is not such a request);
// each Visit and the end of the test fail the test if any were recorded.
// A Page is used by one goroutine.
type Page struct {
	t         testing.TB
	s         *Session
	ctx       context.Context
	mainFrame atomic.Value // string: the tab's main frame id

	mu        sync.Mutex
	inflight  map[network.RequestID]bool
	docOrigin string
	allowed   map[string]bool // other origins a test allows (AllowOrigin)
	problems  []string
	reported  int
}

// NewPage opens a tab in the session.
func (s *Session) NewPage() *Page {
	s.t.Helper()
	p := &Page{t: s.t, s: s, inflight: map[network.RequestID]bool{}}
	ctx, cancel := chromedp.NewContext(s.ctx, chromedp.WithListener(p.observe))
	p.ctx = ctx
	s.t.Cleanup(func() {
		p.reportProblems()
		cancel()
	})
	if err := chromedp.Do(ctx); err != nil {
		s.t.Fatalf("browser: new tab: %v", err)
	}
	p.mainFrame.Store(string(chromedp.FromContext(ctx).Target.TargetID))
	return p
}

// Context is the tab's chromedp context, for actions the Page has no method for.
func (p *Page) Context() context.Context { return p.ctx }

// observe runs in the tab's event loop: it must return fast and run no
// command.
func (p *Page) observe(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			p.problem("console.%s: %s", ev.Type, argsText(ev.Args))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		p.problem("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text)
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			p.problem("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		p.request(ev)
	case *network.EventLoadingFinished:
		p.done(ev.RequestID)
	case *network.EventLoadingFailed:
		p.done(ev.RequestID)
	}
}

func (p *Page) request(ev *network.EventRequestWillBeSent) {
	u, err := url.Parse(ev.Request.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
		return // data:, blob:, about: and the like do not leave the browser
	}
	origin := u.Scheme + "://" + u.Host
	main, _ := p.mainFrame.Load().(string)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight[ev.RequestID] = true
	if ev.Type == network.ResourceTypeDocument && string(ev.FrameID) == main {
		p.docOrigin = origin // a top-level navigation: where the page now is
		return
	}
	if origin != p.docOrigin && !p.allowed[origin] {
		p.problems = append(p.problems, fmt.Sprintf("request to another origin: %s %s %s (page on %s)", ev.Type, ev.Request.Method, ev.Request.URL, p.docOrigin))
	}
}

func (p *Page) done(id network.RequestID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.inflight, id)
}

// settle waits (at most 5 s) until no request of the tab has been in flight
// for 200 ms, so that what the page fetched after loading is on screen.
func (p *Page) settle() {
	deadline := time.Now().Add(5 * time.Second)
	quiet := 0
	for quiet < 4 && time.Now().Before(deadline) {
		p.mu.Lock()
		n := len(p.inflight)
		p.mu.Unlock()
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Page) problem(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// reportProblems fails the test with what was recorded since the last report.
func (p *Page) reportProblems() {
	p.t.Helper()
	p.mu.Lock()
	fresh := p.problems[p.reported:]
	p.reported = len(p.problems)
	p.mu.Unlock()
	for _, pr := range fresh {
		p.t.Errorf("browser: %s", pr)
	}
}

// do runs actions in the tab, bounded by Timeout.
func (p *Page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %s: %v (page %s)", what, err, p.URL())
	}
}

// URL is the address of the document shown.
func (p *Page) URL() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return u
}

// Visit opens url in the tab, waits for it to load, and checks it (see
// Check) under the name given.
func (p *Page) Visit(name, url string) {
	p.t.Helper()
	p.do("open "+url, chromedp.Navigate(url))
	p.Check(name)
}

// ClickToLoad clicks sel and waits for the page it leads to to load (a
// link, a form's submit button), then checks that page.
func (p *Page) ClickToLoad(name string, sel Sel) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)))
	if err != nil {
		p.t.Fatalf("browser: click %s and wait for a page: %v (page %s)", sel, err, p.URL())
	}
	p.Check(name)
}

// Check waits until the document has loaded, saves a full-page screenshot
// named NN-name.png, runs axe-core on it (failing on serious and critical
// violations), and fails the test on console errors and requests to other
// origins recorded so far.
func (p *Page) Check(name string) {
	p.t.Helper()
	if err := p.poll(`document.readyState === "complete"`, Timeout); err != nil {
		p.t.Fatalf("browser: %s never finished loading: %v (page %s)", name, err, p.URL())
	}
	p.settle()
	p.Screenshot(name)
	p.axe(name)
	p.reportProblems()
}

// Screenshot saves a full-page PNG of the tab as NN-name.png.
func (p *Page) Screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	file := filepath.Join(p.s.shots, fmt.Sprintf("%02d-%s.png", p.s.n.Add(1), fileSafe(name)))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
}

// Sel is a CSS selector.
type Sel = string

// TestID selects the element with data-testid=id.
func TestID(id string) Sel { return fmt.Sprintf("[data-testid=%q]", id) }

// Click clicks the first element matching sel once it is visible.
func (p *Page) Click(sel Sel) {
	p.t.Helper()
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Fill replaces the value of the field sel with text, typed as a person
// would (so input events fire).
func (p *Page) Fill(sel Sel, text string) {
	p.t.Helper()
	p.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Clear(chromedp.CSS(sel)), Type(sel, text))
}

// Type focuses the field sel and inserts text into it as typed text
// (Input.insertText: input events fire). Not chromedp.SendKeys: v0.23.0
// reads a node's attributes there before taking the node's lock, a data
// race with the DOM events the page sends meanwhile (seen under -race).
func Type(sel Sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Focus(chromedp.CSS(sel), chromedp.NodeVisible)(ctx, t); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// Text is the visible text of the first element matching sel.
func (p *Page) Text(sel Sel) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		p.t.Fatalf("browser: text of %s: %v (page %s)", sel, err, p.URL())
	}
	return strings.TrimSpace(s)
}

// Has reports whether an element matches sel now.
func (p *Page) Has(sel Sel) bool {
	p.t.Helper()
	return Eval[bool](p, fmt.Sprintf(`document.querySelector(%s) !== null`, jsString(sel)))
}

// WaitText waits until the text of the first element matching sel
// contains want, and fails the test with the text it had if it never does.
func (p *Page) WaitText(sel Sel, want string) {
	p.t.Helper()
	p.WaitTextFor(sel, want, Timeout)
}

// WaitTextFor is WaitText with its own time limit.
func (p *Page) WaitTextFor(sel Sel, want string, limit time.Duration) {
	p.t.Helper()
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e !== null && e.innerText.includes(%s); })()`, jsString(sel), jsString(want))
	if err := p.poll(expr, limit); err != nil {
		got := Eval[string](p, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e === null ? "(no such element)" : e.innerText; })()`, jsString(sel)))
		p.t.Fatalf("browser: %s never showed %q within %s; it shows %q (page %s)", sel, want, limit, got, p.URL())
	}
}

// poll evaluates expr every 50 ms until it is true, for at most limit. It
// evaluates in whatever document the tab shows at each try (a navigation
// in between is no error), which chromedp's Poll, bound to one execution
// context, does not.
func (p *Page) poll(expr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last == nil {
				last = errors.New("timed out")
			}
			return last
		}
		select {
		case <-p.ctx.Done():
			return p.ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitVisible waits until an element matching sel is visible.
func (p *Page) WaitVisible(sel Sel) {
	p.t.Helper()
	p.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Eval evaluates a JavaScript expression in the tab (awaiting a promise)
// and decodes its value.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("browser: evaluate %.80q: %v", expr, err)
	}
	return v
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_") }

// Download clicks sel, which must start a download, waits for it to
// complete, and returns the file name the server suggested and the
// file's content.
func (p *Page) Download(sel Sel) (string, []byte) {
	p.t.Helper()
	dir := p.t.TempDir()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	c := chromedp.FromContext(p.ctx)
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: c.BrowserContextID,
		DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		p.t.Fatalf("browser: allow downloads: %v", err)
	}
	begins := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadProgress)
	p.Click(sel)
	var guid, name string
	for ev, err := range begins {
		if err != nil {
			p.t.Fatalf("browser: clicking %s started no download: %v", sel, err)
		}
		guid, name = ev.GUID, ev.SuggestedFilename
		break
	}
	for ev, err := range progress {
		if err != nil {
			p.t.Fatalf("browser: download %s did not finish: %v", name, err)
		}
		if ev.GUID != guid {
			continue
		}
		switch ev.State {
		case cdpbrowser.DownloadProgressStateCompleted:
			raw, err := os.ReadFile(filepath.Join(dir, guid))
			if err != nil {
				p.t.Fatalf("browser: download %s: %v", name, err)
			}
			return name, raw
		case cdpbrowser.DownloadProgressStateCanceled:
			p.t.Fatalf("browser: download %s was canceled", name)
		}
	}
	p.t.Fatalf("browser: download %s: no end", name)
	return "", nil
}
