package browser

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
)

// Wallet is a test wallet for pages: an EIP-1193 provider at
// window.ethereum (also announced per EIP-6963) whose every request is
// answered in Go. It holds one account; personal_sign signs with its key
// (EIP-191), which never reaches the page.
type Wallet struct {
	key     *ecdsa.PrivateKey
	addr    common.Address
	chainID *big.Int

	mu     sync.Mutex
	signed []string
}

// NewWallet makes a wallet of key on the chain chainID.
func NewWallet(key *ecdsa.PrivateKey, chainID *big.Int) *Wallet {
	return &Wallet{key: key, addr: crypto.PubkeyToAddress(key.PublicKey), chainID: chainID}
}

// Address is the wallet's account.
func (w *Wallet) Address() common.Address { return w.addr }

// Signed lists the messages the wallet signed, in order.
func (w *Wallet) Signed() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.signed...)
}

// walletBinding is the Go function the page's provider calls.
const walletBinding = "__onekeyTestWallet"

// walletJS defines window.ethereum before any script of the page runs.
const walletJS = `(() => {
  if (window.ethereum) return;
  const listeners = {};
  const provider = {
    isOnekeyTestWallet: true,
    request: (args) => window.` + walletBinding + `({method: String(args && args.method), params: (args && args.params) || []}),
    on(event, fn) { (listeners[event] = listeners[event] || []).push(fn); return provider; },
    removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); return provider; },
  };
  window.ethereum = provider;
  const info = Object.freeze({uuid: "7d9c2f4e-0f6b-4c1e-9d1a-0c9e0b7f7a11", name: "onekey test wallet", rdns: "test.onekey.wallet",
    icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='32' height='32'/%3E"});
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", {detail: Object.freeze({info, provider})}));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();`

type walletRequest struct {
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

// Inject puts the wallet into the page's tab; it is there in every
// document the tab loads from then on.
func (w *Wallet) Inject(p *Page) {
	p.t.Helper()
	p.do("inject the test wallet",
		chromedp.ExposeFunc(walletBinding, w.handle),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: walletJS})
			return err
		}),
	)
}

// handle answers one EIP-1193 request.
func (w *Wallet) handle(_ context.Context, r walletRequest) (any, error) {
	addr := strings.ToLower(w.addr.Hex())
	switch r.Method {
	case "eth_requestAccounts", "eth_accounts":
		return []string{addr}, nil
	case "eth_chainId":
		return hexutil.EncodeBig(w.chainID), nil
	case "net_version":
		return w.chainID.String(), nil
	case "wallet_switchEthereumChain", "wallet_addEthereumChain":
		return nil, nil
	case "personal_sign":
		return w.personalSign(r.Params)
	}
	return nil, fmt.Errorf("test wallet: method %s not supported", r.Method)
}

// personalSign signs params [message, address] (either order, as wallets
// accept) with EIP-191; a 0x-prefixed message is hex bytes, as MetaMask
// reads it.
func (w *Wallet) personalSign(params []json.RawMessage) (string, error) {
	if len(params) < 2 {
		return "", errors.New("test wallet: personal_sign wants [message, address]")
	}
	var a, b string
	if json.Unmarshal(params[0], &a) != nil || json.Unmarshal(params[1], &b) != nil {
		return "", errors.New("test wallet: personal_sign params are not strings")
	}
	msg, from := a, b
	if common.IsHexAddress(a) && !common.IsHexAddress(b) {
		msg, from = b, a
	}
	if !strings.EqualFold(from, w.addr.Hex()) {
		return "", fmt.Errorf("test wallet: asked to sign for %s, holds %s", from, w.addr.Hex())
	}
	data := []byte(msg)
	if strings.HasPrefix(msg, "0x") {
		raw, err := hexutil.Decode(msg)
		if err != nil {
			return "", fmt.Errorf("test wallet: message: %w", err)
		}
		data = raw
	}
	sig, err := crypto.Sign(accounts.TextHash(data), w.key)
	if err != nil {
		return "", fmt.Errorf("test wallet: sign: %w", err)
	}
	sig[64] += 27
	w.mu.Lock()
	w.signed = append(w.signed, string(data))
	w.mu.Unlock()
	return hexutil.Encode(sig), nil
}
