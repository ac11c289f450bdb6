module github.com/onekey-oss/onekey/services/notifier

go 1.26.0

require github.com/onekey-oss/onekey/api v0.0.0

require github.com/resend/resend-go/v2 v2.28.0

replace (
	github.com/onekey-oss/onekey/api => ../../api
	github.com/onekey-oss/onekey/pkg => ../../pkg
)
