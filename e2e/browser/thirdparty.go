package browser

// AllowOrigin lets the tab's pages make requests to origin (scheme://host:port)
// from now on without it counting as a request to another origin: for a
// third party a test admits at a known moment, such as a tag manager after
// the visitor's consent. ForbidOrigin takes it back.
func (p *Page) AllowOrigin(origin string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.allowed == nil {
		p.allowed = map[string]bool{}
	}
	p.allowed[origin] = true
}

// ForbidOrigin makes requests to origin count as requests to another origin
// again (see AllowOrigin).
func (p *Page) ForbidOrigin(origin string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.allowed, origin)
}

// Visible reports whether an element matching sel is rendered now (it
// exists and is not hidden).
func (p *Page) Visible(sel Sel) bool {
	p.t.Helper()
	return Eval[bool](p, `(() => { const e = document.querySelector(`+jsString(sel)+`); return e !== null && e.checkVisibility(); })()`)
}

// WaitHidden waits until no element matching sel is rendered.
func (p *Page) WaitHidden(sel Sel) {
	p.t.Helper()
	if err := p.poll(`(() => { const e = document.querySelector(`+jsString(sel)+`); return e === null || !e.checkVisibility(); })()`, Timeout); err != nil {
		p.t.Fatalf("browser: %s is still shown: %v (page %s)", sel, err, p.URL())
	}
}
