//go:build tools

// Package tools keeps kwok's command in this module's dependency graph, so that `go mod tidy`
// records every module it needs in go.sum.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
