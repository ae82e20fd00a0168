#!/usr/bin/env bash
# Starts the local test stack on 127.0.0.1, or reuses what already runs:
#   dockerd (own socket, vfs) + buildx plugin, two registries (open :5310, htpasswd :5311),
#   etcd, kube-apiserver (RBAC), kube-controller-manager, kube-scheduler, kwok with 3 fake nodes,
#   IngressClass nginx, Gateway API CRDs, a restricted kubeconfig for team-a, and a data plane:
#   the responder (answers as each Ready pod on its loopback pod IP), Traefik (Ingress NGINX and
#   Gateway API providers) with a GatewayClass + Gateway, and Prometheus scraping Traefik.
# Writes $STATE/env.json and $STATE/env (see docs in the stack contract). Idempotent: a component
# whose process still runs with the same command line is left alone; one whose command line or
# inputs changed is restarted. Env: KUBE_SHIP_STATE, KWOK_POD_READY_DELAY_MS (default 1000),
# KWOK_CRASHLOOP_INTERVAL_MS (default 2000), KUBE_SHIP_{ETCD,ETCD_PEER,APISERVER}_PORT,
# KUBE_SHIP_ROUTER_{NGINX,NGINX_TLS,GATEWAY,ADMIN}_PORT, KUBE_SHIP_PROMETHEUS_PORT, KUBE_SHIP_POD_CIDR, KUBE_SHIP_SERVICE_CIDR.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

READY_DELAY_MS=${KWOK_POD_READY_DELAY_MS:-1000}
CRASHLOOP_INTERVAL_MS=${KWOK_CRASHLOOP_INTERVAL_MS:-2000}
SERVER=https://127.0.0.1:$APISERVER_PORT
ADMIN_KUBECONFIG=$STATE/admin.kubeconfig
DEPLOYER_KUBECONFIG=$STATE/deployer.kubeconfig
DOCKER_SOCK=$STATE/docker/docker.sock

# ---------------------------------------------------------------- prerequisites

need_tools() {
  [ "$(id -u)" = 0 ] || die "up.sh must run as root (dockerd needs it)"
  local missing=() pkgs=()
  command -v dockerd >/dev/null || pkgs+=(docker.io)
  command -v docker-registry >/dev/null || pkgs+=(docker-registry)
  command -v htpasswd >/dev/null || pkgs+=(apache2-utils)
  command -v openssl >/dev/null || pkgs+=(openssl)
  # The canary metrics gate is tested against a real Prometheus scraping a local exporter.
  command -v prometheus >/dev/null || pkgs+=(prometheus)
  # buildkitd's OCI worker runs RUN steps with runc.
  command -v runc >/dev/null || pkgs+=(runc)
  if [ ${#pkgs[@]} -gt 0 ]; then
    say "installing ${pkgs[*]} with apt-get"
    mkdir -p "$LOGS"
    # policy-rc.d keeps the packages' own services from starting; we start ours below.
    { timeout 300 apt-get update && DEBIAN_FRONTEND=noninteractive timeout 600 \
        apt-get install -y --no-install-recommends "${pkgs[@]}"; } >"$LOGS/apt.log" 2>&1 ||
      die "apt-get install ${pkgs[*]} failed" apt
  fi
  for t in go kubectl curl ss setsid flock; do command -v $t >/dev/null || missing+=($t); done
  [ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (Go >= 1.26 for build.sh, kubectl, curl, iproute2, util-linux)"
  # /usr/local/bin/docker (CLI 28) shadows Debian's; both negotiate down to dockerd 20.10's API.
  command -v docker >/dev/null || die "no docker CLI on PATH"
}

build_binaries() {
  mkdir -p "$LOGS"
  local out
  # The first run compiles Kubernetes (many minutes); build.sh is a no-op when cached.
  out=$("$here/build.sh" kube etcd kwok buildx kustomize helm traefik responder cosign buildkit 2> >(tee -a "$LOGS/build.log" >&2)) ||
    die "building the stack binaries failed (see $LOGS/build.log)" build
  KUBE_BIN=$(grep '/bin/kube-' <<<"$out")
  ETCD_BIN=$(grep '/bin/etcd-' <<<"$out")
  KWOK_BIN=$(grep '/bin/kwok-' <<<"$out")
  BUILDX_BIN=$(grep '/bin/buildx-' <<<"$out")
  KUSTOMIZE_BIN=$(grep '/bin/kustomize-' <<<"$out")
  HELM_BIN=$(grep '/bin/helm-' <<<"$out")
  # The action finds helm on PATH as `helm`: tests put $STATE/bin first in the action's PATH.
  mkdir -p "$STATE/bin"
  [ "$(readlink "$STATE/bin/helm" 2>/dev/null)" = "$HELM_BIN" ] || ln -sfn "$HELM_BIN" "$STATE/bin/helm"
  TRAEFIK_BIN=$(grep '/bin/traefik-' <<<"$out")
  RESPONDER_BIN=$(grep '/bin/responder-' <<<"$out")
  COSIGN_BIN=$(grep '/bin/cosign-' <<<"$out")
  BUILDKITD_BIN=$(grep '/bin/buildkit-' <<<"$out")
}

# Before starting anything: every port a stopped component needs must be free, so a clash is
# reported at once instead of after half the stack has started.
preflight_ports() {
  local pair
  for pair in "registry-open $REGISTRY_PORT" "registry-auth $AUTH_REGISTRY_PORT" "etcd $ETCD_PORT" \
    "etcd $ETCD_PEER_PORT" "kube-apiserver $APISERVER_PORT" "traefik $ROUTER_NGINX_PORT" \
    "traefik $ROUTER_NGINX_TLS_PORT" "traefik $ROUTER_GATEWAY_PORT" "traefik $ROUTER_ADMIN_PORT" \
    "prometheus $PROMETHEUS_PORT"; do
    set -- $pair
    forget "$1"
    alive "$1" || require_free_port "$1" "$2"
  done
}

# ensure NAME SPEC CMD...: reuse NAME when it runs with this exact SPEC (argv plus a hash of its
# inputs); otherwise stop it and start CMD.
ensure() {
  local name=$1 spec=$2; shift 2
  forget "$name"
  stop_strays "$name" "$@"
  if alive "$name"; then
    if [ "$(cat "$RUN/$name.spec" 2>/dev/null)" = "$spec" ]; then return 0; fi
    say "$name: configuration changed, restarting"
    stop "$name"
  fi
  say "starting $name"
  launch "$name" "$@"
  printf '%s' "$spec" >"$RUN/$name.spec"
}

spec_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- docker + buildx

start_docker() {
  local d=$STATE/docker
  mkdir -p "$d"
  [ -f "$d/daemon.json" ] || echo '{}' >"$d/daemon.json"
  local cmd=(dockerd --host "unix://$DOCKER_SOCK" --data-root "$d/data" --exec-root "$d/exec"
    --pidfile "$d/dockerd.pid" --config-file "$d/daemon.json" --storage-driver vfs
    --iptables=false --ip6tables=false --ip-masq=false --bridge=none --log-level warn)
  forget dockerd
  if ! alive dockerd; then
    stop_orphan_containerd
    release_docker_mounts
    rm -f "$d/dockerd.pid"  # dockerd refuses to start over its own stale pidfile
  fi
  ensure dockerd "$(spec_of "${cmd[@]}")" "${cmd[@]}"
  wait_for dockerd 60 "the Docker API on $DOCKER_SOCK" \
    curl -sf --max-time 5 --unix-socket "$DOCKER_SOCK" http://d/_ping
}

install_buildx() {
  # The docker CLI looks here whatever DOCKER_CONFIG a test uses.
  local dir=/usr/local/lib/docker/cli-plugins
  mkdir -p "$dir"
  [ "$(readlink "$dir/docker-buildx" 2>/dev/null)" = "$BUILDX_BIN" ] || ln -sfn "$BUILDX_BIN" "$dir/docker-buildx"
  DOCKER_HOST=unix://$DOCKER_SOCK timeout 30 docker buildx version >/dev/null 2>&1 ||
    die "docker buildx does not run ($dir/docker-buildx -> $BUILDX_BIN)"
}

# BuildKit's own daemon beside dockerd: dockerd 20.10's builder (the docker driver) cannot make
# provenance or SBOM attestations, this one can. Registered as a buildx builder (remote driver)
# in $STATE/buildx, which tests select with BUILDX_CONFIG and the builder name; the docker
# driver stays the default. RUN steps use the host network (loopback only, like everything here).
BUILDKIT_SOCK=$STATE/buildkit/buildkitd.sock
BUILDX_CONFIG_DIR=$STATE/buildx
BUILDKIT_BUILDER=kube-ship-buildkit

start_buildkit() {
  local d=$STATE/buildkit
  mkdir -p "$d"
  printf '%s\n' '[worker.oci]' '  enabled = true' '  snapshotter = "native"' '  networkMode = "host"' '  gc = true' \
    '[worker.containerd]' '  enabled = false' \
    "[registry.\"127.0.0.1:$REGISTRY_PORT\"]" '  http = true' '  insecure = true' \
    "[registry.\"127.0.0.1:$AUTH_REGISTRY_PORT\"]" '  http = true' '  insecure = true' >"$d/buildkitd.toml.new"
  mv "$d/buildkitd.toml.new" "$d/buildkitd.toml"
  local cmd=("$BUILDKITD_BIN" --config "$d/buildkitd.toml" --root "$d/root" --addr "unix://$BUILDKIT_SOCK")
  ensure buildkitd "$(spec_of "${cmd[@]}" "$(cat "$d/buildkitd.toml")")" "${cmd[@]}"
  wait_for buildkitd 60 "buildkitd's socket $BUILDKIT_SOCK" test -S "$BUILDKIT_SOCK"
  # The builder record only names the socket; re-created when missing or pointing elsewhere.
  local bx=(env BUILDX_CONFIG="$BUILDX_CONFIG_DIR" DOCKER_HOST="unix://$DOCKER_SOCK" timeout 60 docker buildx)
  if ! "${bx[@]}" inspect "$BUILDKIT_BUILDER" 2>/dev/null | grep -qF "unix://$BUILDKIT_SOCK"; then
    "${bx[@]}" rm "$BUILDKIT_BUILDER" >/dev/null 2>&1 || true
    "${bx[@]}" create --name "$BUILDKIT_BUILDER" --driver remote "unix://$BUILDKIT_SOCK" >>"$LOGS/buildkitd.log" 2>&1 ||
      die "docker buildx create $BUILDKIT_BUILDER (remote driver) failed" buildkitd
  fi
  wait_for buildkitd 60 "buildx builder $BUILDKIT_BUILDER to answer" \
    bash -c '"$@" inspect --bootstrap "$0" | grep -q "^Status: *running"' "$BUILDKIT_BUILDER" "${bx[@]}"
}

# ---------------------------------------------------------------- registries

start_registries() {
  local d=$STATE/registry
  mkdir -p "$d"
  if [ ! -f "$d/credentials" ]; then
    # Fresh credentials per stack, bcrypt as distribution requires.
    printf 'AUTH_USER=%s\nAUTH_PASSWORD=%s\n' "ks-$(openssl rand -hex 4)" "$(openssl rand -hex 16)" >"$d/credentials.tmp"
    mv "$d/credentials.tmp" "$d/credentials"
    rm -f "$d/htpasswd"
  fi
  # shellcheck disable=SC1091
  . "$d/credentials"
  [ -s "$d/htpasswd" ] || htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$d/htpasswd"
  registry open "$REGISTRY_PORT" ""
  # The file's hash is in the auth config so new credentials restart that registry.
  registry auth "$AUTH_REGISTRY_PORT" "auth: {htpasswd: {realm: kube-ship-stack, path: $d/htpasswd}}
# htpasswd $(sha256sum <"$d/htpasswd" | cut -c1-16)"
  wait_for registry-open 30 "http://127.0.0.1:$REGISTRY_PORT/v2/ to answer 200" \
    curl -sf --max-time 5 "http://127.0.0.1:$REGISTRY_PORT/v2/"
  wait_for registry-auth 30 "http://127.0.0.1:$AUTH_REGISTRY_PORT/v2/ to answer 200 with credentials" \
    curl -sf --max-time 5 -u "$AUTH_USER:$AUTH_PASSWORD" "http://127.0.0.1:$AUTH_REGISTRY_PORT/v2/"
}

registry() {
  local kind=$1 port=$2 auth=$3 d=$STATE/registry
  cat >"$d/$kind.yml.new" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $d/$kind-data}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
  secret: kube-ship-stack-$kind
$auth
EOF
  mv "$d/$kind.yml.new" "$d/$kind.yml"
  local cmd=(docker-registry serve "$d/$kind.yml")
  ensure "registry-$kind" "$(spec_of "${cmd[@]}" "$(cat "$d/$kind.yml")")" "${cmd[@]}"
}

# ---------------------------------------------------------------- PKI and kubeconfigs

# cert NAME SUBJECT [SAN]: a key and a CA-signed certificate; server certs get SANs.
cert() {
  local name=$1 subj=$2 san=${3:-}
  [ -s "$PKI/$name.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  local ext
  if [ -n "$san" ]; then ext="subjectAltName=$san
extendedKeyUsage=serverAuth"
  else ext="extendedKeyUsage=clientAuth"; fi
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -out "$PKI/$name.crt" -extfile <(printf 'keyUsage=critical,digitalSignature,keyEncipherment\n%s\n' "$ext") 2>/dev/null
  rm -f "$PKI/$name.csr"
}

make_pki() {
  mkdir -p "$PKI"
  if [ ! -s "$PKI/ca.crt" ]; then
    rm -f "$PKI"/*.crt  # a new CA invalidates every certificate signed by the old one
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=kube-ship-stack-ca" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=kube-ship-admin"
  # kubeadm's identities: the bootstrap RBAC policy already grants them what they need.
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kwok "/O=system:masters/CN=kwok-controller"
  if [ ! -s "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  for n in admin controller-manager scheduler kwok; do kubeconfig_for "$n"; done
  PKI_HASH=$(cat "$PKI/ca.crt" "$PKI/sa.pub" | sha256sum | cut -c1-16)
}

b64() { base64 -w0 <"$1"; }

# write_kubeconfig FILE USER USER_FIELDS [NAMESPACE]: a one-context kubeconfig for the stack.
write_kubeconfig() {
  local f=$1 user=$2 fields=$3 ns=${4:+, namespace: $4}
  cat >"$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-ship-stack
  cluster: {server: "$SERVER", certificate-authority-data: $(b64 "$PKI/ca.crt")}
users:
- name: $user
  user: {$fields}
contexts:
- name: $user@kube-ship-stack
  context: {cluster: kube-ship-stack, user: $user$ns}
current-context: $user@kube-ship-stack
EOF
  chmod 600 "$f.tmp"
  mv "$f.tmp" "$f"
}

kubeconfig_for() {
  write_kubeconfig "$STATE/$1.kubeconfig" "$1" "client-certificate-data: $(b64 "$PKI/$1.crt"), client-key-data: $(b64 "$PKI/$1.key")"
}

# ---------------------------------------------------------------- control plane

# Services keep the ClusterIPs etcd holds: a state dir made with another service range (before
# the data plane, 10.96.0.0/16) starts over with empty etcd data instead of a broken cluster.
reset_on_service_cidr_change() {
  local f=$STATE/etcd/service-cidr c
  if [ -d "$STATE/etcd/data" ] && [ "$(cat "$f" 2>/dev/null)" != "$SERVICE_CIDR" ]; then
    say "the service range is now $SERVICE_CIDR: starting the cluster from empty etcd data"
    for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do forget "$c"; if alive "$c"; then stop "$c"; fi; done
    rm -rf "$STATE/etcd/data" "$STATE/applied.hash"
  fi
  mkdir -p "$STATE/etcd"
  echo "$SERVICE_CIDR" >"$f"
}

start_etcd() {
  mkdir -p "$STATE/etcd"
  local c=http://127.0.0.1:$ETCD_PORT p=http://127.0.0.1:$ETCD_PEER_PORT
  local cmd=("$ETCD_BIN" --name=kube-ship --data-dir="$STATE/etcd/data"
    --listen-client-urls="$c" --advertise-client-urls="$c"
    --listen-peer-urls="$p" --initial-advertise-peer-urls="$p" --initial-cluster="kube-ship=$p"
    --unsafe-no-fsync --log-level=warn --quota-backend-bytes=4294967296
    --auto-compaction-mode=periodic --auto-compaction-retention=10m)
  ensure etcd "$(spec_of "${cmd[@]}")" "${cmd[@]}"
  wait_for etcd 60 "etcd health on $c" etcd_healthy
}

etcd_healthy() { curl -sf --max-time 5 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }

apiserver_cmd() {
  APISERVER_CMD=("$KUBE_BIN" kube-apiserver
    --etcd-servers="http://127.0.0.1:$ETCD_PORT"
    --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT"
    # No default route is needed with an explicit loopback address; loopback may not be an
    # Endpoints address, so the 'kubernetes' Service endpoints are not reconciled.
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key"
    --client-ca-file="$PKI/ca.crt"
    --authorization-mode=RBAC
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key"
    --service-cluster-ip-range="$SERVICE_CIDR"
    --allow-privileged=true --profiling=false)
}

start_apiserver() {
  apiserver_cmd
  ensure kube-apiserver "$(spec_of "${APISERVER_CMD[@]}" "$PKI_HASH")" "${APISERVER_CMD[@]}"
  wait_for kube-apiserver 180 "$SERVER/readyz" apiserver_ready
}

apiserver_ready() {
  curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$SERVER/readyz" | grep -qx ok
}

start_controller_manager() {
  local cmd=("$KUBE_BIN" kube-controller-manager
    --kubeconfig="$STATE/controller-manager.kubeconfig"
    --leader-elect=false --secure-port=0 --use-service-account-credentials=true
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt"
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key"
    --profiling=false)
  ensure kube-controller-manager "$(spec_of "${cmd[@]}" "$PKI_HASH")" "${cmd[@]}"
}

start_scheduler() {
  local cmd=("$KUBE_BIN" kube-scheduler
    --kubeconfig="$STATE/scheduler.kubeconfig"
    --leader-elect=false --secure-port=0 --profiling=false)
  ensure kube-scheduler "$(spec_of "${cmd[@]}" "$PKI_HASH")" "${cmd[@]}"
}

start_kwok() {
  mkdir -p "$STATE/kwok"
  sed -e "s/@READY_DELAY_MS@/$READY_DELAY_MS/g" -e "s/@CRASHLOOP_INTERVAL_MS@/$CRASHLOOP_INTERVAL_MS/g" \
    "$here/kwok/stages-node.yaml" - "$here/kwok/stages-pod.yaml" <<<"---" >"$STATE/kwok/stages.yaml"
  local cmd=("$KWOK_BIN" --kubeconfig="$STATE/kwok.kubeconfig"
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake
    --node-lease-duration-seconds=40 --cidr="$POD_CIDR" --node-ip=10.0.0.1
    -c "$STATE/kwok/stages.yaml")
  ensure kwok "$(spec_of "${cmd[@]}" "$(cat "$STATE/kwok/stages.yaml")" "$PKI_HASH")" "${cmd[@]}"
}

# ---------------------------------------------------------------- data plane

# Pods' IPs are loopback addresses (kwok --cidr); the responder listens on each Ready pod's
# IP:containerPort and answers as that pod, so a router's EndpointSlice lookups reach something.
start_responder() {
  local cmd=("$RESPONDER_BIN" --server="$SERVER" --ca="$PKI/ca.crt" --cert="$PKI/admin.crt"
    --key="$PKI/admin.key" --cidr="$POD_CIDR" --service-cidr="$SERVICE_CIDR")
  ensure responder "$(spec_of "${cmd[@]}" "$PKI_HASH")" "${cmd[@]}"
}

# Traefik on 127.0.0.1 only: every entrypoint has an explicit loopback address (its defaults
# are :80 and :8080 on all interfaces), no dashboard, no version check or usage reports. The
# API (read-only, loopback) lets tests see when a weight change has reached the router.
start_traefik() {
  local cmd=("$TRAEFIK_BIN"
    --global.checkNewVersion=false --global.sendAnonymousUsage=false
    --log.level=INFO
    --entryPoints.nginx.address="127.0.0.1:$ROUTER_NGINX_PORT" --entryPoints.nginx.asDefault=true
    --entryPoints.nginxtls.address="127.0.0.1:$ROUTER_NGINX_TLS_PORT" --entryPoints.nginxtls.http.tls=true
    --entryPoints.gateway.address="127.0.0.1:$ROUTER_GATEWAY_PORT"
    --entryPoints.traefik.address="127.0.0.1:$ROUTER_ADMIN_PORT"
    --ping=true --ping.entryPoint=traefik
    --api=true --api.insecure=true --api.dashboard=false
    --metrics.prometheus=true --metrics.prometheus.entryPoint=traefik
    --metrics.prometheus.addServicesLabels=true --metrics.prometheus.addRoutersLabels=true
    --providers.kubernetesIngressNGINX=true
    --providers.kubernetesIngressNGINX.httpEntryPoint=nginx --providers.kubernetesIngressNGINX.httpsEntryPoint=nginxtls
    --providers.kubernetesIngressNGINX.throttleDuration=0s
    --providers.kubernetesGateway=true --providers.kubernetesGateway.throttleDuration=0s
    --providers.kubernetesGateway.nativeLBByDefault=true)
  # Its Kubernetes providers take no client certificate flags, only KUBECONFIG from the
  # environment (set for this call: an `env` prefix would not be the argv alive() compares).
  KUBECONFIG=$ADMIN_KUBECONFIG ensure traefik "$(spec_of "${cmd[@]}" "$ADMIN_KUBECONFIG" "$PKI_HASH")" "${cmd[@]}"
  wait_for traefik 60 "Traefik's ping on 127.0.0.1:$ROUTER_ADMIN_PORT" \
    curl -sf --max-time 5 "http://127.0.0.1:$ROUTER_ADMIN_PORT/ping"
}

# Prometheus scraping Traefik every second, for canary-metrics gates on real request counters.
start_prometheus() {
  local d=$STATE/prometheus
  mkdir -p "$d"
  printf '%s\n' 'global: {scrape_interval: 1s, evaluation_interval: 1s}' 'scrape_configs:' '- job_name: traefik' \
    "  static_configs: [{targets: ['127.0.0.1:$ROUTER_ADMIN_PORT']}]" >"$d/prometheus.yml.new"
  mv "$d/prometheus.yml.new" "$d/prometheus.yml"
  local cmd=(prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/data"
    --storage.tsdb.retention.time=6h --web.listen-address="127.0.0.1:$PROMETHEUS_PORT")
  ensure prometheus "$(spec_of "${cmd[@]}" "$(cat "$d/prometheus.yml")")" "${cmd[@]}"
  wait_for prometheus 60 "Prometheus ready on 127.0.0.1:$PROMETHEUS_PORT" \
    curl -sf --max-time 5 "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
}

# The GatewayClass + Gateway Traefik serves; its listener port names Traefik's gateway entrypoint.
apply_router_objects() {
  local marker=$STATE/router.hash inputs
  inputs=$(sha256sum <"$here/cluster/router.yaml" | cut -c1-16)-$ROUTER_GATEWAY_PORT
  if [ "$(cat "$marker" 2>/dev/null)" = "$inputs" ] &&
    k -n kube-ship-router get gatewayclass/traefik gateway/traefik >/dev/null 2>&1; then
    return 0
  fi
  sed "s/@GATEWAY_PORT@/$ROUTER_GATEWAY_PORT/g" "$here/cluster/router.yaml" |
    k apply --server-side --force-conflicts --field-manager=kube-ship-stack -f - >>"$LOGS/apply.log" 2>&1 ||
    die "applying the GatewayClass and Gateway failed" apply
  wait_for traefik 60 "Gateway kube-ship-router/traefik to be Programmed" \
    k -n kube-ship-router wait --for=condition=Programmed --timeout=5s gateway/traefik
  echo "$inputs" >"$marker"
}

# ---------------------------------------------------------------- cluster objects

k() { timeout 60 kubectl --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

apply_cluster_objects() {
  local gw_version gw_dir inputs marker=$STATE/applied.hash
  gw_version=$(tr -d '[:space:]' <"$here/cluster/gateway-api.version")
  gw_dir=$(cd /tmp && GOFLAGS=-mod=mod GOWORK=off timeout 300 go mod download -json "sigs.k8s.io/gateway-api@$gw_version" |
    sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p') || true
  [ -d "$gw_dir/config/crd/standard" ] || die "could not fetch sigs.k8s.io/gateway-api@$gw_version from the Go module proxy"
  local crds=() f
  for f in "$gw_dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    f=${f##*_}; f=${f%.yaml}
    [ "$f" = safeupgrades ] || crds+=("crd/$f.gateway.networking.k8s.io")
  done
  # Re-applying the large CRDs costs seconds: skip it when these exact inputs were applied and
  # every object is still there (a test may delete a node; a wiped etcd loses them all).
  inputs=$(cat "$here/kwok/nodes.yaml" "$here/cluster/base.yaml" "$here/rbac/deployer-role.yaml" \
    "$here/cluster/gateway-api.version" | sha256sum | cut -c1-16)
  if [ "$(cat "$marker" 2>/dev/null)" = "$inputs" ] &&
    k -n team-a get node/kwok-node-0 node/kwok-node-1 node/kwok-node-2 namespace/team-a serviceaccount/kube-ship-deployer \
      role/kube-ship-deployer rolebinding/kube-ship-deployer ingressclass/nginx "${crds[@]}" >/dev/null 2>&1; then
    return 0
  fi
  # Server-side: the CRDs are too large for client-side apply's last-applied annotation.
  k apply --server-side --force-conflicts --field-manager=kube-ship-stack \
    -f "$here/kwok/nodes.yaml" -f "$here/cluster/base.yaml" -f "$gw_dir/config/crd/standard" >"$LOGS/apply.log" 2>&1 ||
    die "applying cluster objects failed" apply
  k apply --server-side --force-conflicts --field-manager=kube-ship-stack -n team-a \
    -f "$here/rbac/deployer-role.yaml" >>"$LOGS/apply.log" 2>&1 || die "applying the deployer Role failed" apply
  k wait --for=condition=Established --timeout=60s "${crds[@]}" >>"$LOGS/apply.log" 2>&1 ||
    die "Gateway API CRDs did not become Established within 60s" apply
  echo "$inputs" >"$marker"
}

wait_cluster_ready() {
  wait_for kwok 90 "3 kwok nodes Ready" nodes_ready
  # The ServiceAccount admission plugin rejects pods until the controller-manager has created
  # a namespace's default ServiceAccount; team-a is the first namespace tests use.
  wait_for kube-controller-manager 60 "the default ServiceAccount in team-a" k -n team-a get serviceaccount default
  local c
  for c in kube-controller-manager kube-scheduler kwok; do alive "$c" || die "$c exited" "$c"; done
}

nodes_ready() {
  [ "$(k get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)" -ge 3 ]
}

restricted_kubeconfig() {
  local token
  # A bound token from TokenRequest; a year is enough for any stack's life.
  token=$(k -n team-a create token kube-ship-deployer --duration=8760h) || die "TokenRequest for team-a/kube-ship-deployer failed"
  write_kubeconfig "$DEPLOYER_KUBECONFIG" kube-ship-deployer "token: $token" team-a
}

write_env() {
  cat >"$STATE/env.json.tmp" <<EOF
{
  "dockerHost": "unix://$DOCKER_SOCK",
  "registry": "127.0.0.1:$REGISTRY_PORT",
  "authRegistry": "127.0.0.1:$AUTH_REGISTRY_PORT",
  "authUser": "$AUTH_USER",
  "authPassword": "$AUTH_PASSWORD",
  "kubeconfig": "$ADMIN_KUBECONFIG",
  "restrictedKubeconfig": "$DEPLOYER_KUBECONFIG",
  "restrictedNamespace": "team-a",
  "server": "$SERVER",
  "caFile": "$PKI/ca.crt",
  "stateDir": "$STATE",
  "podReadyDelayMs": $READY_DELAY_MS,
  "kustomize": "$KUSTOMIZE_BIN",
  "helm": "$STATE/bin/helm",
  "cosign": "$COSIGN_BIN",
  "buildkit": {"builder": "$BUILDKIT_BUILDER", "buildxConfig": "$BUILDX_CONFIG_DIR", "socket": "unix://$BUILDKIT_SOCK"},
  "podCidr": "$POD_CIDR",
  "serviceCidr": "$SERVICE_CIDR",
  "router": {
    "nginx": "http://127.0.0.1:$ROUTER_NGINX_PORT",
    "gateway": "http://127.0.0.1:$ROUTER_GATEWAY_PORT",
    "gatewayRef": {"namespace": "kube-ship-router", "name": "traefik"},
    "metrics": "http://127.0.0.1:$ROUTER_ADMIN_PORT/metrics",
    "api": "http://127.0.0.1:$ROUTER_ADMIN_PORT/api"
  },
  "prometheusUrl": "http://127.0.0.1:$PROMETHEUS_PORT"
}
EOF
  mv "$STATE/env.json.tmp" "$STATE/env.json"
  cat >"$STATE/env" <<EOF
export DOCKER_HOST=unix://$DOCKER_SOCK
export KUBECONFIG=$ADMIN_KUBECONFIG
export KUBE_SHIP_REGISTRY=127.0.0.1:$REGISTRY_PORT
export KUBE_SHIP_AUTH_REGISTRY=127.0.0.1:$AUTH_REGISTRY_PORT
export KUBE_SHIP_AUTH_USER=$AUTH_USER
export KUBE_SHIP_AUTH_PASSWORD=$AUTH_PASSWORD
export KUBE_SHIP_RESTRICTED_KUBECONFIG=$DEPLOYER_KUBECONFIG
export KUBE_SHIP_SERVER=$SERVER
export KUBE_SHIP_STATE=$STATE
export KUBE_SHIP_HELM=$STATE/bin/helm
export KUBE_SHIP_ROUTER_NGINX=http://127.0.0.1:$ROUTER_NGINX_PORT
export KUBE_SHIP_ROUTER_GATEWAY=http://127.0.0.1:$ROUTER_GATEWAY_PORT
export KUBE_SHIP_PROMETHEUS=http://127.0.0.1:$PROMETHEUS_PORT
export KUBE_SHIP_BUILDKIT_BUILDER=$BUILDKIT_BUILDER
export KUBE_SHIP_BUILDX_CONFIG=$BUILDX_CONFIG_DIR
EOF
}

# A concurrent up.sh must not undo a test's deliberate apiserver outage (see held in lib.sh),
# so it waits (bounded) for apiserver-start instead, without holding the lock meanwhile.
lock_without_hold() {
  local deadline=$((SECONDS + 180))
  with_lock 1800
  while held; do
    flock -u 9
    say "kube-apiserver is held stopped by fault.sh; waiting for apiserver-start"
    while held; do
      [ $SECONDS -lt $deadline ] || die "kube-apiserver has been held stopped by fault.sh for over 180s ($HOLD)"
      sleep 0.5
    done
    with_lock 1800
  done
  rm -f "$HOLD"
}

main() {
  local t0=$SECONDS
  lock_without_hold
  chmod 700 "$STATE"  # env.json and the kubeconfigs hold credentials
  need_tools
  preflight_ports
  build_binaries
  start_docker
  install_buildx
  start_registries
  start_buildkit
  make_pki
  reset_on_service_cidr_change
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  start_kwok
  apply_cluster_objects
  wait_cluster_ready
  start_responder
  start_traefik
  start_prometheus
  apply_router_objects
  restricted_kubeconfig
  write_env
  say "ready in $((SECONDS - t0))s: $SERVER, registries 127.0.0.1:$REGISTRY_PORT/$AUTH_REGISTRY_PORT, routers 127.0.0.1:$ROUTER_NGINX_PORT (nginx) :$ROUTER_GATEWAY_PORT (gateway), env in $STATE/env.json"
}

# Sourcing (for debugging one function) defines everything without starting anything.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
