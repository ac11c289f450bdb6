module github.com/onekey-oss/onekey/services/ledger

go 1.26.0

require (
	github.com/onekey-oss/onekey/api v0.0.0
	github.com/onekey-oss/onekey/pkg v0.0.0
)

replace (
	github.com/onekey-oss/onekey/api => ../../api
	github.com/onekey-oss/onekey/pkg => ../../pkg
)
