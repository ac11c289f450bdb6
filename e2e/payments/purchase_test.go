package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/chainwatcher/chaintest"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
	"github.com/onekey-oss/onekey/services/gateway/demo"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func TestEndToEnd_PaidCheckoutAndConfirmedUSDCRaiseTheBalanceTheGatewayAdmitsAndReceiptsAreMailedOnce(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := bustest.Start(t)
	b := srv.Connect(t, "e2e")
	st := storetest.New(t)

	// A chain with USDC (6 decimals) and a customer wallet.
	payer := chaintest.NewWallet(t)
	key, wallet := payer.Key, payer.Addr
	sim := chaintest.New(t, payer)
	deposit := chaintest.NewWallet(t).Addr
	chain := sim.Config("base", deposit)
	usdc := sim.USDC
	pay := func(to common.Address, units int64) *types.Receipt {
		t.Helper()
		r := sim.Mine(sim.Call(payer, usdc, "transfer", to, big.NewInt(units)))
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatal("transfer failed")
		}
		return r
	}

	// The services, as devstack wires them.
	lcfg := ledger.DefaultConfig()
	lcfg.FreeRequests = 0 // so that only a payment lets the gateway admit
	led, err := ledger.New(lcfg, ledger.Deps{Bus: srv.ConnectAs(t, bus.UserLedger), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "ledger", led.Run)

	resend := resendtest.Start(t)
	nt, err := notifier.New(notifier.Config{MailSealKey: events.NewMailSealKey(), ResendAPIKey: resendtest.APIKey, ResendBaseURL: resend.URL(), From: "onekey <noreply@onekey.test>", SiteURL: "https://onekey.test", RetryBackoff: 100 * time.Millisecond},
		notifier.Deps{Bus: srv.ConnectAs(t, bus.UserNotifier), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "notifier", nt.Run)

	paysvc, err := payments.New(payments.Config{StripeWebhookSecret: whsec, CheckoutMin: 5 * money.Dollar, CheckoutMax: 1000 * money.Dollar, Chains: []cryptopay.Chain{chain}},
		payments.Deps{Bus: srv.ConnectAs(t, bus.UserPayments), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "payments", paysvc.Run)
	web := httptest.NewServer(paysvc.Handler())
	t.Cleanup(web.Close)

	cw, err := chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{chain}, PollInterval: 100 * time.Millisecond},
		chainwatcher.Deps{Bus: srv.ConnectAs(t, bus.UserChainwatcher), Store: st, Logger: log, Clients: map[string]chainwatcher.ChainClient{"base": sim.Client}})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "chainwatcher", cw.Run)

	upstream := httptest.NewServer(demo.Handler())
	t.Cleanup(upstream.Close)
	// A lease request waits up to 20 s for the ledger (3 s by default): the
	// test asserts that a paid account is admitted, and a loaded machine
	// can keep the ledger's answer past 3 s (a 503 billing_unavailable).
	gw, err := gateway.New(gateway.Config{Addr: "127.0.0.1:0", OutboxDir: t.TempDir(), LeaseTimeout: 20 * time.Second,
		Channels: []gateway.ChannelConfig{{Name: "demo-openai", Provider: catalog.OpenAI, BaseURL: upstream.URL + "/v1", APIKey: "demo", Weight: 1}}},
		gateway.Deps{Bus: srv.ConnectAs(t, bus.UserGateway), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "gateway", gw.Run)
	select {
	case <-paysvc.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("payments not ready")
	}

	// An account as auth opens it: account.created, its key in KV
	// apikeys, its address in auth's users.
	acc := ids.New("acc")
	k, err := apikey.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	kvKeys, err := b.KV(ctx, events.BucketAPIKeys)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(events.APIKeyV1{V: 1, KeyID: ids.New("key"), ProjectID: ids.New("prj"), AccountID: acc, Status: events.KeyActive, UpdatedAt: time.Now().UTC()})
	if _, err := kvKeys.Put(ctx, apikey.Hash(k), raw); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Collection(notifier.CollUsers).InsertOne(ctx, bson.D{{Key: "_id", Value: acc}, {Key: "email", Value: "payer@onekey.test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, events.AccountCreatedV1{V: 1, ID: "account.created:" + acc, Time: time.Now().UTC(), AccountID: acc}); err != nil {
		t.Fatal(err)
	}

	balance := balanceReader(t, b, acc)
	ask := func() int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+gw.Addr()+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-5.2","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+k)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	e2estack.WaitFor(t, "account opened in KV balances", func() bool { _, ok := balance(); return ok })
	// The key (KV apikeys) is another event than the account's opening:
	// the gateway may see it later, and answer 401 until then.
	e2estack.WaitFor(t, "the gateway knows the key", func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+gw.Addr()+"/v1/credits", nil)
		req.Header.Set("Authorization", "Bearer "+k)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if c := ask(); c != http.StatusPaymentRequired {
		t.Fatalf("gateway before any payment: %d, want 402", c)
	}

	// 1. A paid Checkout session, delivered twice; and another whose
	// delayed payment failed.
	postEvent := func(id, typ, session, status string, cents int64) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{
			"id": id, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(), "type": typ,
			"data": map[string]any{"object": map[string]any{"id": session, "object": "checkout.session", "client_reference_id": acc, "metadata": map[string]string{"account_id": acc},
				"currency": "usd", "amount_total": cents, "payment_status": status, "payment_intent": "pi_" + session}},
		})
		sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: whsec}).Header
		req, _ := http.NewRequest(http.MethodPost, web.URL+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook %s: %d", id, resp.StatusCode)
		}
	}
	postEvent("evt_e2e_paid", "checkout.session.completed", "cs_e2e", "paid", 1000)
	postEvent("evt_e2e_paid", "checkout.session.completed", "cs_e2e", "paid", 1000)
	postEvent("evt_e2e_unpaid", "checkout.session.completed", "cs_e2e_ach", "unpaid", 2500)
	postEvent("evt_e2e_failed", "checkout.session.async_payment_failed", "cs_e2e_ach", "unpaid", 2500)
	e2estack.WaitFor(t, "card credit in KV balances", func() bool { v, _ := balance(); return v.BalanceMicros == 10*money.Dollar })
	e2estack.WaitFor(t, "gateway admits after the card payment", func() bool { return ask() == http.StatusOK })
	e2estack.WaitFor(t, "the request is debited", func() bool { v, _ := balance(); return v.BalanceMicros < 10*money.Dollar })
	before, _ := balance()

	// 2. A confirmed USDC transfer from a linked wallet.
	request := func(subject string, req, rep any) {
		t.Helper()
		data, _ := json.Marshal(req)
		msg, err := b.Conn().Request(subject, data, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(msg.Data, rep); err != nil {
			t.Fatal(err)
		}
	}
	var nonce events.WalletNonceReplyV1
	request(events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: acc, Address: wallet.Hex()}, &nonce)
	sig, _ := crypto.Sign(accounts.TextHash([]byte(nonce.Message)), key)
	sig[64] += 27
	var linked events.WalletLinkReplyV1
	request(events.SubjectWalletLink, events.WalletLinkRequestV1{V: 1, AccountID: acc, Address: wallet.Hex(), Nonce: nonce.Nonce, Signature: hexutil.Encode(sig)}, &linked)
	if linked.Code != "" {
		t.Fatalf("link: %+v", linked)
	}
	paid := pay(deposit, 5_000_000)
	var claim events.CryptoClaimReplyV1
	request(events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: acc, Chain: "base", TxHash: paid.TxHash.Hex()}, &claim)
	if claim.Status != events.ClaimPending {
		t.Fatalf("claim: %+v", claim)
	}
	sim.Finalize()
	e2estack.WaitFor(t, "USDC credit in KV balances", func() bool { v, _ := balance(); return v.BalanceMicros == before.BalanceMicros+5*money.Dollar })
	if c := ask(); c != http.StatusOK {
		t.Errorf("gateway after the USDC payment: %d", c)
	}
	e2estack.WaitFor(t, "the second request is debited", func() bool { v, _ := balance(); return v.BalanceMicros < before.BalanceMicros+5*money.Dollar })
	after, _ := balance()

	// A claim of a transfer that did not pay us is rejected, and mailed.
	stray := pay(chaintest.NewWallet(t).Addr, 1_000_000)
	request(events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: acc, Chain: "base", TxHash: stray.TxHash.Hex()}, &claim)
	sim.Finalize()

	// One mail per outcome, each once, to the account's address: two
	// receipts, the failed card payment, the rejected transfer.
	want := map[string]int{"receipt": 2, "payment_failed": 1, "tx_rejected": 1}
	count := func() map[string]int {
		n := map[string]int{}
		for _, m := range mailsTo(resend, "payer@onekey.test") {
			n[m.Tag("kind")]++
		}
		return n
	}
	e2estack.WaitFor(t, "the mails", func() bool {
		n := count()
		return n["receipt"] >= 2 && n["payment_failed"] >= 1 && n["tx_rejected"] >= 1
	})
	if n := count(); len(n) != len(want) || n["receipt"] != 2 || n["payment_failed"] != 1 || n["tx_rejected"] != 1 {
		t.Errorf("mails by kind = %v, want %v", n, want)
	}
	if v, _ := balance(); v.BalanceMicros != after.BalanceMicros {
		t.Errorf("balance %s, want %s: the failed payment and the stray transfer must not credit", v.BalanceMicros, after.BalanceMicros)
	}
}
