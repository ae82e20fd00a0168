//go:build tools

// Package tools pins Helm 4, whose `helm template`, `helm package`, `helm push` and
// `helm upgrade --install` the chart source is tested against.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
