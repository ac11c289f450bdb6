module github.com/onekey-oss/onekey/api

go 1.26
