module github.com/onekey-oss/onekey/tools

go 1.26.0

require (
	github.com/onekey-oss/onekey/api v0.0.0
	github.com/onekey-oss/onekey/pkg v0.0.0
	github.com/onekey-oss/onekey/services/auth v0.0.0
	github.com/onekey-oss/onekey/services/chainwatcher v0.0.0
	github.com/onekey-oss/onekey/services/gateway v0.0.0
	github.com/onekey-oss/onekey/services/ledger v0.0.0
	github.com/onekey-oss/onekey/services/notifier v0.0.0
	github.com/onekey-oss/onekey/services/payments v0.0.0
)

require go.uber.org/goleak v1.3.0 // indirect

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
