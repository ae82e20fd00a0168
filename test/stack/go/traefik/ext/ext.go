// Package ext stands in for Traefik's nested extension module: a directory of Traefik's
// repository with its own go.mod, so the traefik module zip leaves it out and the proxy does not
// serve it. Traefik embeds these structs inline; upstream they are empty too.
package ext

// HTTP extends dynamic.HTTP.
type HTTP struct{}

// Router extends dynamic.Router.
type Router struct{}
