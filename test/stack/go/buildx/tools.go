//go:build tools

// Package tools pins buildx; v0.33+ speaks API 1.40, which Debian's dockerd 20.10 serves.
package tools

import _ "github.com/docker/buildx/cmd/buildx"
