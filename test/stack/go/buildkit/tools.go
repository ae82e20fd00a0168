//go:build tools

// Package tools pins BuildKit's daemon: the stack's second builder, which (unlike the docker
// driver on dockerd 20.10) can attach provenance and SBOM attestations. v0.32.2 is the version
// buildx v0.36.1 itself requires, so the two share downloads and build cache.
package tools

import _ "github.com/moby/buildkit/cmd/buildkitd"
