//go:build tools

// Package tools keeps KServe's manager command in this module's dependency graph, so that
// `go mod tidy` records every module it needs in go.sum.
package tools

import _ "github.com/kserve/kserve/cmd/manager"
