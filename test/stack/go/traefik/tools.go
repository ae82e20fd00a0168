//go:build tools

// Package tools pins Traefik; the binary is built with `go build github.com/traefik/traefik/v3/cmd/traefik`.
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
