#!/usr/bin/env bash
# Builds the local stack's binaries from the Go modules under test/stack/go into a cache outside
# the repository, one file per module keyed by a hash of that module's files, so a warm machine
# rebuilds nothing and a changed pin rebuilds only its own binary.
#   test/stack/build.sh [kube|etcd|kwok|buildx|kustomize|helm|traefik|responder|cosign|buildkit ...]   (default: all)
# Prints the path of each binary. Cold build on 2 cores: see README.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KUBE_SHIP_CACHE:-$HOME/.cache/kube-ship}
mkdir -p "$cache/bin"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0

command -v go >/dev/null || { echo "build.sh: Go is not installed (need go >= 1.26 on PATH)" >&2; exit 1; }

# Files in subdirectories (traefik's stand-ins) count too; modules without any hash as before.
key() { (cd "$here/go/$1" && cat go.mod go.sum *.go $(find . -mindepth 2 -type f | sort) | sha256sum | cut -c1-12); }

# Traefik is built from a copy of its wrapper module next to the cache, where lego (the ACME
# library) gets a DNS-provider table without the vendor SDKs the proxy does not serve; go.mod's
# replace points there (./lego-nodns). See go/traefik/nodns.
prepare_traefik() {
  local src=$1 lego
  rm -rf "$src"
  mkdir -p "$src"
  cp -r "$here/go/traefik/go.mod" "$here/go/traefik/go.sum" "$here/go/traefik/tools.go" "$here/go/traefik/ext" "$src/"
  lego=$(sed -n 's|^\s*github.com/go-acme/lego/v5 \(v[^ ]*\).*|\1|p' "$src/go.mod")
  lego=$(cd / && go mod download -json "github.com/go-acme/lego/v5@$lego" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [ -d "$lego/providers/dns" ] || { echo "build.sh: could not download github.com/go-acme/lego/v5" >&2; return 1; }
  cp -r "$lego" "$src/lego-nodns"
  chmod -R u+w "$src/lego-nodns"
  rm -f "$src"/lego-nodns/providers/dns/*.go
  cp "$here/go/traefik/nodns/providers.go.txt" "$src/lego-nodns/providers/dns/providers.go"
}

build_one() {
  local name=$1 out pkg ldflags="" prio=""
  out="$cache/bin/$name-$(key "$name")"
  if [ -x "$out" ]; then echo "$out"; return; fi
  case $name in
    kube)
      pkg=.
      local v=v1.36.3 d; d=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=36 -X $p.gitTreeState=clean -X $p.buildDate=$d"
      done ;;
    etcd) pkg=. ;;
    kwok) pkg=sigs.k8s.io/kwok/cmd/kwok ;;
    kustomize) pkg=sigs.k8s.io/kustomize/kustomize/v5 ;;
    traefik) pkg=github.com/traefik/traefik/v3/cmd/traefik
      ldflags="-X github.com/traefik/traefik/v3/pkg/version.Version=v3.7.13" ;;
    responder) pkg=. ;;
    buildx) pkg=github.com/docker/buildx/cmd/buildx
      ldflags="-X github.com/docker/buildx/version.Version=v0.36.1" ;;
    # Charts may pin helm's version (.Capabilities.HelmVersion); say the real one, not "v4.3".
    helm) pkg=helm.sh/helm/v4/cmd/helm
      ldflags="-X helm.sh/helm/v4/internal/version.version=v4.3.2 -X helm.sh/helm/v4/internal/version.gitTreeState=clean" ;;
    cosign) pkg=github.com/sigstore/cosign/v3/cmd/cosign
      # only the supply-chain tests need it: lowest CPU priority beside the shared builds
      ldflags="-X sigs.k8s.io/release-utils/version.gitVersion=v3.1.3" prio=nice ;;
    # The attestation-capable builder (buildx remote driver); runc comes from Debian.
    buildkit) pkg=github.com/moby/buildkit/cmd/buildkitd
      ldflags="-X github.com/moby/buildkit/version.Version=v0.32.2" prio=nice ;;
    *) echo "build.sh: unknown component '$name' (kube, etcd, kwok, buildx, kustomize, helm, traefik, responder, cosign, buildkit)" >&2; return 2 ;;
  esac
  local start=$SECONDS dir=$here/go/$name
  if [ "$name" = traefik ]; then dir=$cache/src/traefik; prepare_traefik "$dir"; fi
  echo "build.sh: building $name (cold builds take minutes; later runs reuse $out)" >&2
  (cd "$dir" && ${prio:-} go build -trimpath -tags selinux,notest -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  echo "build.sh: built $name in $((SECONDS - start))s" >&2
  echo "$out"
}

[ $# -gt 0 ] || set -- etcd kwok buildx kustomize helm kube traefik responder cosign buildkit
# One build at a time per cache: a second caller waits and then finds the binaries built.
exec 8>"$cache/.build.lock"
flock -n 8 || { echo "build.sh: another build.sh is running; waiting for it (up to 1h)" >&2; flock -w 3600 8; } ||
  { echo "build.sh: gave up waiting for $cache/.build.lock" >&2; exit 1; }
for c in "$@"; do build_one "$c"; done
