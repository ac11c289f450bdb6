package browser_test

import (
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/onekey-oss/onekey/e2e/browser"
)

var shared browser.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	_ = shared.Close()
	os.Exit(code)
}

func session(t *testing.T) *browser.Session {
	t.Helper()
	b, err := shared.Get(t.Output())
	if err != nil {
		t.Fatalf("chromium: %v", err) // never a skip: the tests need a browser
	}
	return b.NewSession(t, os.Getenv)
}

// recorder stands in for the test so that the checks' failures can be
// asserted on.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) { r.Error(fmt.Sprintf(format, args...)) }
func (r *recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprint(args...))
}
func (r *recorder) failures() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

func site(t *testing.T, pages map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func doc(title, body string) string {
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>` + title +
		`</title><link rel="icon" href="data:,"></head><body><main><h1>` + title + `</h1>` + body + `</main></body></html>`
}

func TestPage_CleanPageOnItsOwnOriginPassesAndIsScreenshotted(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(browser.ScreenshotsEnv, dir)
	srv := site(t, map[string]string{"/": doc("Home", `<p>Hello</p><script>fetch("/data")</script>`), "/data": "{}"})
	b, err := shared.Get(t.Output())
	if err != nil {
		t.Fatal(err)
	}
	p := b.NewSession(t, os.Getenv).NewPage()
	p.Visit("home", srv.URL+"/")
	if got := p.Text("h1"); got != "Home" {
		t.Fatalf("h1 = %q", got)
	}
	shots, _ := filepath.Glob(filepath.Join(dir, "*", "01-home.png"))
	if len(shots) != 1 {
		t.Fatalf("screenshots: %v", shots)
	}
	if raw, _ := os.ReadFile(shots[0]); !strings.HasPrefix(string(raw), "\x89PNG") {
		t.Fatal("the screenshot is not a PNG")
	}
}

func TestPage_RequestToAnotherOriginConsoleErrorAndSeriousAxeViolationFailTheTest(t *testing.T) {
	other := site(t, map[string]string{"/pixel": "x"})
	srv := site(t, map[string]string{
		"/": doc("Leaky", fmt.Sprintf(`<img src="%s/pixel"><script>console.error("boom")</script>`, other.URL)),
	})
	r := &recorder{TB: t}
	b, err := shared.Get(t.Output())
	if err != nil {
		t.Fatal(err)
	}
	p := b.NewSession(r, os.Getenv).NewPage()
	p.Visit("leaky", srv.URL+"/")
	got := r.failures()
	for _, want := range []string{"request to another origin: Image GET " + other.URL + "/pixel", "console.error: boom", "[image-alt]"} {
		if !strings.Contains(got, want) {
			t.Errorf("failures lack %q; got:\n%s", want, got)
		}
	}
}

func TestPage_TopLevelNavigationToAnotherOriginIsNotARequestOfThePage(t *testing.T) {
	other := site(t, map[string]string{"/pay": doc("Pay", `<p>Elsewhere</p>`)})
	srv := site(t, map[string]string{"/": doc("Start", fmt.Sprintf(`<a href="%s/pay">Pay</a>`, other.URL))})
	r := &recorder{TB: t}
	b, err := shared.Get(t.Output())
	if err != nil {
		t.Fatal(err)
	}
	p := b.NewSession(r, os.Getenv).NewPage()
	p.Visit("start", srv.URL+"/")
	p.ClickToLoad("pay", "a")
	if got := p.Text("h1"); got != "Pay" {
		t.Fatalf("h1 = %q", got)
	}
	if f := r.failures(); f != "" {
		t.Fatalf("unexpected failures:\n%s", f)
	}
}

func TestWallet_SignsWithItsKeyWhichThePageNeverSees(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	w := browser.NewWallet(key, big.NewInt(1337))
	srv := site(t, map[string]string{"/": doc("Wallet", `<p>Sign</p>`)})
	p := session(t).NewPage()
	w.Inject(p)
	p.Visit("wallet", srv.URL+"/")
	accs := browser.Eval[[]string](p, `window.ethereum.request({method: "eth_requestAccounts"})`)
	if len(accs) != 1 || !strings.EqualFold(accs[0], w.Address().Hex()) {
		t.Fatalf("accounts = %v", accs)
	}
	msg := "Link this wallet to onekey\nnonce: 42"
	sig := browser.Eval[string](p, fmt.Sprintf(`window.ethereum.request({method: "personal_sign", params: [%q, %q]})`,
		hexutil.Encode([]byte(msg)), accs[0]))
	raw, err := hexutil.Decode(sig)
	if err != nil || len(raw) != 65 {
		t.Fatalf("signature %q: %v", sig, err)
	}
	raw[64] -= 27
	pub, err := crypto.SigToPub(accounts.TextHash([]byte(msg)), raw)
	if err != nil || crypto.PubkeyToAddress(*pub) != w.Address() {
		t.Fatalf("signature recovers to %v (%v), want %s", pub, err, w.Address())
	}
	if html := browser.Eval[string](p, `document.documentElement.outerHTML + JSON.stringify(Object.keys(window.ethereum))`); strings.Contains(html, hexutil.Encode(crypto.FromECDSA(key))[2:]) {
		t.Fatal("the private key reached the page")
	}
}

func TestPage_DownloadReturnsTheFileTheServerSent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/export" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Disposition", `attachment; filename="export.json"`)
			fmt.Fprint(w, `{"ok":true}`)
			return
		}
		fmt.Fprint(w, doc("Export", `<a href="/export">Download</a>`))
	}))
	t.Cleanup(srv.Close)
	p := session(t).NewPage()
	p.Visit("export", srv.URL+"/")
	name, body := p.Download("a")
	if name != "export.json" || string(body) != `{"ok":true}` {
		t.Fatalf("download = %q %q", name, body)
	}
}
