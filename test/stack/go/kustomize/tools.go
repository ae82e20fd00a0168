//go:build tools

// Package tools pins kustomize 5.5 (what kubectl 1.32 embeds), for the parity test of our
// `images:` edit against `kustomize edit set image`.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
