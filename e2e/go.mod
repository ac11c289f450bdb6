module github.com/onekey-oss/onekey/e2e

go 1.26.0

replace (
	github.com/onekey-oss/onekey/api => ../api
	github.com/onekey-oss/onekey/pkg => ../pkg
	github.com/onekey-oss/onekey/services/auth => ../services/auth
	github.com/onekey-oss/onekey/services/chainwatcher => ../services/chainwatcher
	github.com/onekey-oss/onekey/services/gateway => ../services/gateway
	github.com/onekey-oss/onekey/services/ledger => ../services/ledger
	github.com/onekey-oss/onekey/services/notifier => ../services/notifier
	github.com/onekey-oss/onekey/services/payments => ../services/payments
)

require (
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	github.com/ethereum/go-ethereum v1.17.10
)

require (
	github.com/ProjectZKM/Ziren/crates/go-runtime/zkvm_runtime v0.0.0-20251001021608-1fe7b43fc4d6 // indirect
	github.com/bits-and-blooms/bitset v1.20.0 // indirect
	github.com/consensys/gnark-crypto v0.18.1 // indirect
	github.com/crate-crypto/go-eth-kzg v1.5.0 // indirect
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.0.1 // indirect
	github.com/ethereum/c-kzg-4844/v2 v2.1.8 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/holiman/uint256 v1.3.2 // indirect
	github.com/supranational/blst v0.3.16 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
