//go:build tools

// Package tools pins the Cosign CLI the supply-chain tests sign images with (key pairs, both the
// tag-based .sig layout and the OCI 1.1 referrers / bundle layout).
package tools

import _ "github.com/sigstore/cosign/v3/cmd/cosign"
