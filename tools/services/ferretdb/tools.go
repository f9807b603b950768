//go:build tools

// Package tools pins the FerretDB server so `go build github.com/FerretDB/FerretDB/cmd/ferretdb`
// resolves it from this module's go.mod and go.sum.
package tools

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"
