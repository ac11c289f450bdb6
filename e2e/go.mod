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
