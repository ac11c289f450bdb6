package cryptopay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/money"
)

const (
	usdc = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	dep  = "0x00000000000000000000000000000000000000aA"
)

func TestChainsFromEnv_ReadsEachChainWithExplicitDecimals(t *testing.T) {
	env := map[string]string{
		"CRYPTO_CHAINS":                  "ethereum, base",
		"CHAIN_ETHEREUM_RPC_URL":         "http://eth",
		"CHAIN_ETHEREUM_DEPOSIT_ADDRESS": dep,
		"CHAIN_ETHEREUM_TOKENS":          "USDC:" + usdc + ":6,usdt:0xdAC17F958D2ee523a2206206994597C13D831ec7:6",
		"CHAIN_BASE_DEPOSIT_ADDRESS":     dep,
		"CHAIN_BASE_TOKENS":              "USDC:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913:6",
		"CHAIN_BASE_FINALITY":            "finalized",
		"CHAIN_BASE_SAFE_BELOW_USD":      "50",
	}
	chains, err := cryptopay.ChainsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 2 || chains[0].Name != "ethereum" || chains[1].Name != "base" {
		t.Fatalf("chains = %+v", chains)
	}
	eth := chains[0]
	if eth.DepositAddress != strings.ToLower(dep) || len(eth.Tokens) != 2 || eth.Tokens[1].Symbol != "USDT" || eth.Tokens[0].Decimals != 6 {
		t.Errorf("ethereum = %+v", eth)
	}
	if tok, ok := eth.TokenByContract(strings.ToUpper(usdc[:2]) + usdc[2:]); !ok || tok.Symbol != "USDC" {
		t.Errorf("token lookup is case-sensitive: %+v %v", tok, ok)
	}
	base := chains[1]
	if base.Rule(money.USD(10)) != cryptopay.Safe || base.Rule(money.USD(50)) != cryptopay.Finalized || eth.Rule(1) != cryptopay.Finalized {
		t.Errorf("rules: %s %s %s", base.Rule(money.USD(10)), base.Rule(money.USD(50)), eth.Rule(1))
	}
}

func TestChainsFromEnv_ReportsEveryProblem(t *testing.T) {
	env := map[string]string{
		"CRYPTO_CHAINS":              "base,base,bad.name",
		"CHAIN_BASE_DEPOSIT_ADDRESS": "0x12",
		"CHAIN_BASE_TOKENS":          "USDC:" + usdc + ",USDT:" + usdc + ":x",
		"CHAIN_BASE_FINALITY":        "latest",
	}
	_, err := cryptopay.ChainsFromEnv(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("accepted a bad config")
	}
	for _, want := range []string{"listed twice", "bad.name", "DEPOSIT_ADDRESS", "symbol:contract:decimals", "decimals must be", "FINALITY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if chains, err := cryptopay.ChainsFromEnv(func(string) string { return "" }); err != nil || len(chains) != 0 {
		t.Errorf("no chains configured: %v %v", chains, err)
	}
}

func TestLinkMessage_NamesAccountWalletNonceAndExpiry(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := cryptopay.LinkMessage("acc_1", "0xABC", "n1", exp)
	for _, want := range []string{"acc_1", "0xabc", "n1", "2026-01-02T03:04:05Z"} {
		if !strings.Contains(m, want) {
			t.Errorf("message lacks %q:\n%s", want, m)
		}
	}
	if n, ok := cryptopay.RejectionAttempt(cryptopay.RejectionID("base:0xab:acc", 3)); !ok || n != 3 {
		t.Errorf("rejection attempt = %d %v", n, ok)
	}
	if _, ok := cryptopay.RejectionAttempt("evt_1"); ok {
		t.Error("parsed a foreign id")
	}
	if cryptopay.ClaimID("base", "0xAB", "acc") != "base:0xab:acc" {
		t.Error(cryptopay.ClaimID("base", "0xAB", "acc"))
	}
	if !cryptopay.IsTxHash("0x"+strings.Repeat("a", 64)) || cryptopay.IsTxHash("0x12") || !cryptopay.IsAddress(usdc) {
		t.Error("hex checks")
	}
}
