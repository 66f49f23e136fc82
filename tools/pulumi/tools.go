//go:build tools

// Package tools pins the Pulumi CLI main package so `go mod tidy` keeps
// every module it needs in go.sum; install-pulumi.sh builds it with go build -o.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
