package dashboard_test

import (
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/e2e/browser"
)

func TestDashboard_WalletLinkedWithAnInjectedWalletClaimsAUSDCTransferThatShowsConfirmed(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := visitor(t).NewPage()
	wallet := browser.NewWallet(s.Payer.Key, s.Chain.ChainID)
	wallet.Inject(p)
	signIn(t, s, p, "satoshi@example.com")

	p.Visit("billing", s.AuthURL+"/billing")
	p.WaitText(tid("deposit-address"), strings.ToLower(s.Deposit.Hex()))
	p.Click(tid("wallet-link"))
	p.WaitText(tid("wallet-status"), "Linked")
	p.WaitText(tid("linked-wallet"), strings.ToLower(wallet.Address().Hex()))
	if signed := wallet.Signed(); len(signed) != 1 {
		t.Fatalf("the wallet signed %d messages, want the one nonce message", len(signed))
	}
	p.Check("wallet-linked")

	tx := s.payUSDC(7_000_000) // 7 USDC, 6 decimals
	p.Fill(tid("claim-tx"), tx.Hex())
	p.Click(tid("claim-submit"))
	p.WaitText(tid("claim-status"), "pending")
	p.Check("claim-pending")
	s.Chain.Finalize()
	p.WaitText(tid("claim-status"), "confirmed")
	p.WaitText(tid("balance"), "$7.00")
	p.Check("claim-confirmed")
}
