package dashboard_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/services/payments/stripemocktest"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/chainwatcher/chaintest"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

const (
	whsec     = "whsec_dashboard_e2e"
	chainName = "base"
	// The fake upstream bills every chat completion at these token counts.
	upstreamModel        = "gpt-5-mini"
	upstreamPromptTokens = 1234
	upstreamOutputTokens = 567
)

// stack is the whole system on the embedded bus and database, as devstack
// wires it (tools/devstack/stack), with the third parties stood in for: a
// fake OpenAI upstream behind the gateway, go-ethereum's simulated chain
// with an ERC-20 USDC, the notifier's mail outbox (.eml files), and either
// payments' dev top-up or stripe-mock with signed webhooks.
type stack struct {
	t   *testing.T
	bus *bus.Bus
	st  *store.Store

	AuthURL     string // the dashboard's origin: auth's public URL
	PaymentsURL string
	GatewayURL  string
	outbox      string
	mailKey     string // MAIL_SEAL_KEY of auth and the notifier

	Chain   *chaintest.Chain
	Payer   chaintest.Wallet // holds 10 ETH and 1,000 USDC
	Deposit common.Address
	Stripe  bool
}

type stackOptions struct {
	// Stripe runs payments against stripe-mock with a webhook secret
	// instead of the dev top-up.
	Stripe bool
	// Analytics configures the dashboard's consent-based analytics (off
	// when zero).
	Analytics auth.AnalyticsConfig
	// AssistantURL, when set, turns the dashboard's assistant on against
	// this Messages API (a fake: services/auth/anthropicfake).
	AssistantURL string
}

func newStack(t *testing.T, opt stackOptions) *stack {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := bustest.Start(t)
	s := &stack{t: t, bus: srv.Connect(t, "dashboard-e2e"), st: newStore(t), outbox: filepath.Join(t.TempDir(), "outbox"), Stripe: opt.Stripe, mailKey: events.NewMailSealKey()}
	s.Payer = chaintest.NewWallet(t)
	s.Chain = chaintest.New(t, s.Payer)
	s.Deposit = chaintest.NewWallet(t).Addr
	chains := []cryptopay.Chain{s.Chain.Config(chainName, s.Deposit)}

	// Each HTTP service is served by an httptest server whose address is
	// known before the service is built, since their configs name their
	// own public URLs.
	authWeb := httptest.NewUnstartedServer(nil)
	payWeb := httptest.NewUnstartedServer(nil)
	s.AuthURL = "http://" + authWeb.Listener.Addr().String()
	s.PaymentsURL = "http://" + payWeb.Listener.Addr().String()

	// Each service connects as its own bus user; s.bus (the admin) only
	// drives the tests.
	lcfg := ledger.DefaultConfig()
	led, err := ledger.New(lcfg, ledger.Deps{Bus: srv.ConnectAs(t, bus.UserLedger), Store: s.st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "ledger", led.Run)

	nt, err := notifier.New(notifier.Config{MailSealKey: s.mailKey, OutboxDir: s.outbox, From: "onekey <noreply@onekey.test>", SiteURL: s.AuthURL, RetryBackoff: 100 * time.Millisecond},
		notifier.Deps{Bus: srv.ConnectAs(t, bus.UserNotifier), Store: s.st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "notifier", nt.Run)

	pcfg := payments.Config{PublicURL: s.PaymentsURL, CheckoutMin: 5 * money.Dollar, CheckoutMax: 1000 * money.Dollar, Chains: chains}
	if opt.Stripe {
		pcfg.StripeSecretKey, pcfg.StripeWebhookSecret, pcfg.StripeAPIBase = "sk_test_dashboard", whsec, stripemocktest.Start(t)
	} else {
		pcfg.DevTopUp = true
	}
	pay, err := payments.New(pcfg, payments.Deps{Bus: srv.ConnectAs(t, bus.UserPayments), Store: s.st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "payments", pay.Run)
	payWeb.Config.Handler = pay.Handler()
	payWeb.Start()
	t.Cleanup(payWeb.Close)

	cw, err := chainwatcher.New(chainwatcher.Config{Chains: chains, PollInterval: 200 * time.Millisecond, ClaimTimeout: time.Hour},
		chainwatcher.Deps{Bus: srv.ConnectAs(t, bus.UserChainwatcher), Store: s.st, Logger: log, Clients: map[string]chainwatcher.ChainClient{chainName: s.Chain.Client}})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "chainwatcher", cw.Run)

	upstream := httptest.NewServer(fakeOpenAI())
	t.Cleanup(upstream.Close)
	gw, err := gateway.New(gateway.Config{Addr: "127.0.0.1:0", OutboxDir: t.TempDir(),
		Channels: []gateway.ChannelConfig{{Name: "fake-openai", Provider: catalog.OpenAI, BaseURL: upstream.URL + "/v1", APIKey: "sk-upstream", Weight: 1}}},
		gateway.Deps{Bus: srv.ConnectAs(t, bus.UserGateway), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "gateway", gw.Run)
	s.GatewayURL = "http://" + gw.Addr()

	au, err := auth.New(auth.Config{Addr: "127.0.0.1:0", PublicURL: s.AuthURL, AppURL: s.AuthURL + "/",
		MagicLinksPerAddress: 5, MagicLinksPerIP: 30, MagicLinkWindow: 15 * time.Minute,
		FreeGrantSecret: "dashboard-e2e-free-grant-secret-0123456789",
		MailSealKey:     s.mailKey,
		Dashboard: auth.DashboardConfig{GatewayPublicURL: s.GatewayURL, OperatorName: "the onekey e2e tests", OperatorContact: "ops@onekey.test",
			CheckoutMin: pcfg.CheckoutMin, CheckoutMax: pcfg.CheckoutMax, Analytics: opt.Analytics},
		Assistant: assistantConfig(opt.AssistantURL)},
		auth.Deps{Bus: srv.ConnectAs(t, bus.UserAuth), Store: s.st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "auth", au.Run) // its own listener is unused; Run also syncs keys and sweeps
	authWeb.Config.Handler = au.Handler()
	authWeb.Start()
	t.Cleanup(authWeb.Close)

	select {
	case <-pay.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("payments not ready within 30s")
	}
	e2estack.WaitWithin(t, 30*time.Second, "gateway ready", gw.Ready)
	return s
}

// fakeOpenAI answers chat completions in OpenAI's format, plain or
// streamed, always with the same usage, so the cost is known exactly.
func fakeOpenAI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, upstreamPromptTokens, upstreamOutputTokens, upstreamPromptTokens+upstreamOutputTokens)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"chatcmpl-e2e","object":"chat.completion","created":%d,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the fake upstream."},"finish_reason":"stop"}],"usage":%s}`,
				time.Now().Unix(), req.Model, usage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-e2e\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello.\"},\"finish_reason\":\"stop\"}]}\n\n", req.Model)
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-e2e\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[],\"usage\":%s}\n\ndata: [DONE]\n\n", req.Model, usage)
	})
}

// upstreamCost is what one request through the fake upstream costs.
func upstreamCost(t *testing.T) money.Micros {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := cat.Lookup(upstreamModel)
	if !ok {
		t.Fatalf("%s is not in the catalog", upstreamModel)
	}
	return m.Cost(catalog.Usage{InputTokens: upstreamPromptTokens, OutputTokens: upstreamOutputTokens}, 0)
}

// chat sends an OpenAI-format chat completion to the gateway with key and
// returns the status and body.
func (s *stack) chat(key string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.GatewayURL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+upstreamModel+`","messages":[{"role":"user","content":"Say hello"}]}`))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("gateway: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitGateway waits until the gateway knows key and shows its account with
// balance and free free requests. The key (auth → KV apikeys), the
// account's opening (account.created → the ledger: the free requests) and
// a credit are separate events, applied in either order: a request sent
// before the gateway has all of them is refused (401) or charged instead
// of free.
func (s *stack) waitGateway(key string, balance money.Micros, free int64) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequest(http.MethodGet, s.GatewayURL+"/v1/credits", nil)
		if err != nil {
			s.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatalf("gateway: %v", err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var c struct {
			BalanceMicros    int64 `json:"balance_micros"`
			FreeRequestsLeft int64 `json:"free_requests_left"`
		}
		if resp.StatusCode == http.StatusOK && json.Unmarshal(raw, &c) == nil && c.BalanceMicros == int64(balance) && c.FreeRequestsLeft == free {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the gateway does not show the key's account with %s and %d free requests within a minute: %d %s", usd(balance), free, resp.StatusCode, raw)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

var magicLinkRE = regexp.MustCompile(`https?://[^\s"'<>]+/api/auth/magic-link/verify\?token=[A-Za-z0-9_-]+`)

// magicLink waits for the sign-in mail to addr in the notifier's outbox
// and returns the link in its text part.
func (s *stack) magicLink(addr string) string {
	s.t.Helper()
	var link string
	e2estack.WaitWithin(s.t, 30*time.Second, "a sign-in mail to "+addr+" in the outbox", func() bool {
		files, _ := filepath.Glob(filepath.Join(s.outbox, "*.eml"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			to, text, err := readMail(raw)
			if err != nil {
				s.t.Fatalf("mail %s: %v", f, err)
			}
			if strings.Contains(to, addr) {
				if link = magicLinkRE.FindString(text); link != "" {
					return true
				}
			}
		}
		return false
	})
	return link
}

// readMail returns the To header and the text/plain part of an .eml file.
func readMail(raw []byte) (to, text string, err error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", "", err
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return "", "", err
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return m.Header.Get("To"), "", fmt.Errorf("no text/plain part")
		}
		if err != nil {
			return "", "", err
		}
		if strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain") {
			// multipart.Reader decodes quoted-printable itself and drops the header.
			var r io.Reader = part
			if part.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
				r = quotedprintable.NewReader(part)
			}
			b, err := io.ReadAll(r)
			return m.Header.Get("To"), string(b), err
		}
	}
}

// payUSDC sends units of USDC from the payer to the deposit address, mines
// it and returns the transaction hash (not yet final: see Finalize).
func (s *stack) payUSDC(units int64) common.Hash {
	s.t.Helper()
	r := s.Chain.Mine(s.Chain.Call(s.Payer, s.Chain.USDC, "transfer", s.Deposit, big.NewInt(units)))
	if r.Status != types.ReceiptStatusSuccessful {
		s.t.Fatal("USDC transfer failed")
	}
	return r.TxHash
}

// postStripeEvent sends payments a webhook as Stripe would, signed with the
// endpoint's secret.
func (s *stack) postStripeEvent(id string, typ stripe.EventType, object map[string]any) {
	s.t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(), "type": typ,
		"livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": object},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: whsec}).Header
	req, err := http.NewRequest(http.MethodPost, s.PaymentsURL+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Stripe-Signature", sig)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("webhook %s: %d", id, resp.StatusCode)
	}
}
