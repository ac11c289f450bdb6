package browser

import (
	"context"
	"net/url"
	"sync"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// BringToFront makes the tab the visible, focused one (pages that pause
// work while hidden, such as polling, resume).
func (p *Page) BringToFront() {
	p.t.Helper()
	p.s.b.focus.Lock()
	defer p.s.b.focus.Unlock()
	p.bringToFront()
}

func (p *Page) bringToFront() {
	p.t.Helper()
	p.do("bring the tab to front", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.BringToFront, cdp.Empty{})
		return err
	}))
}

// Copy clicks sel, a button that copies text to the clipboard, and returns
// what the clipboard then holds, as the page's origin may read it (the
// session grants it the permission a person would). The clipboard is the
// browser's: tests running in parallel take turns.
func (p *Page) Copy(sel Sel) string {
	p.t.Helper()
	p.s.b.focus.Lock()
	defer p.s.b.focus.Unlock()
	u, err := url.Parse(p.URL())
	if err != nil {
		p.t.Fatalf("browser: clipboard: %v", err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted,
			Origin: u.Scheme + "://" + u.Host, BrowserContextID: chromedp.FromContext(p.ctx).BrowserContextID,
		}); err != nil {
			p.t.Fatalf("browser: grant %s: %v", name, err)
		}
	}
	p.bringToFront()
	const before = "(the clipboard before the copy)"
	Eval[bool](p, `navigator.clipboard.writeText(`+jsString(before)+`).then(() => true)`)
	p.Click(sel)
	if err := p.poll(`navigator.clipboard.readText().then(t => t !== `+jsString(before)+`)`, 10*time.Second); err != nil {
		p.t.Fatalf("browser: clicking %s copied nothing: %v", sel, err)
	}
	return Eval[string](p, `navigator.clipboard.readText()`)
}

// StandIn answers the tab's requests to URLs matching pattern (Chrome's
// wildcards, e.g. "https://checkout.stripe.com/*") with html, in place of a
// third party the tests cannot reach (they run offline), and returns a
// func that lists the URLs it answered. Use it for pages a test reaches by
// a top-level navigation, such as a payment page.
func (p *Page) StandIn(pattern, html string) func() []string {
	p.t.Helper()
	var mu sync.Mutex
	var seen []string
	paused := chromedp.Events(p.ctx, fetch.RequestPaused)
	p.do("intercept "+pattern, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}})
		return err
	}))
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, ev.Request.URL)
			mu.Unlock()
			_, _ = chromedp.Call(p.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
				Body:            []byte(html),
			})
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}
