# Shared by up.sh, down.sh and fault.sh (sourced, not run): where the stack keeps its state,
# which ports it uses, and how a component is started, recognised and stopped by PID.
# Every wait here is bounded; every failure is one line on stderr naming the component.

STATE=${KUBE_SHIP_STATE:-/tmp/kube-ship-stack}
RUN=$STATE/run    # <name>.pid and <name>.cmd (the exact argv started, NUL-separated)
LOGS=$STATE/logs  # <name>.log
PKI=$STATE/pki

# Ports on 127.0.0.1. The registries' 5310/5311 are part of the stack contract (override only
# for a second, private stack); the others can be moved when something else owns them.
REGISTRY_PORT=${KUBE_SHIP_REGISTRY_PORT:-5310}
AUTH_REGISTRY_PORT=${KUBE_SHIP_AUTH_REGISTRY_PORT:-5311}
ETCD_PORT=${KUBE_SHIP_ETCD_PORT:-5312}
ETCD_PEER_PORT=${KUBE_SHIP_ETCD_PEER_PORT:-5313}
APISERVER_PORT=${KUBE_SHIP_APISERVER_PORT:-5314}
# The data plane: Traefik's entrypoints (Ingress NGINX provider over HTTP and HTTPS, Gateway API
# listener, ping + metrics), the Prometheus scraping it, and the loopback range kwok gives pods
# (the responder answers on those addresses).
ROUTER_NGINX_PORT=${KUBE_SHIP_ROUTER_NGINX_PORT:-5350}
ROUTER_NGINX_TLS_PORT=${KUBE_SHIP_ROUTER_NGINX_TLS_PORT:-5351}
ROUTER_GATEWAY_PORT=${KUBE_SHIP_ROUTER_GATEWAY_PORT:-5352}
ROUTER_ADMIN_PORT=${KUBE_SHIP_ROUTER_ADMIN_PORT:-5353}
PROMETHEUS_PORT=${KUBE_SHIP_PROMETHEUS_PORT:-5354}
POD_CIDR=${KUBE_SHIP_POD_CIDR:-127.64.0.0/16}
# ClusterIPs are loopback too: the API server refuses loopback EndpointSlice addresses, so routers
# use Services' ClusterIPs (service-upstream / nativeLB) and the responder plays kube-proxy there.
SERVICE_CIDR=${KUBE_SHIP_SERVICE_CIDR:-127.96.0.0/16}

# Start order; down.sh stops in reverse.
COMPONENTS=(dockerd registry-open registry-auth buildkitd etcd kube-apiserver kube-controller-manager kube-scheduler kwok responder traefik prometheus)

say() { echo "stack: $*" >&2; }

# die MESSAGE [COMPONENT]: one clear line, then the component's last log lines if there are any.
die() {
  echo "stack: error: $1" >&2
  if [ -n "${2:-}" ] && [ -s "$LOGS/$2.log" ]; then
    echo "stack: last lines of $LOGS/$2.log:" >&2
    tail -n 15 "$LOGS/$2.log" | sed 's/^/  | /' >&2
  fi
  exit 1
}

pid_of() { [ -f "$RUN/$1.pid" ] && cat "$RUN/$1.pid" || true; }

# alive NAME: the recorded PID runs and is still the process we started (same argv), so a
# recycled PID or a stale PID file is never mistaken for our component.
alive() {
  local pid; pid=$(pid_of "$1")
  # Through a pipe: cmp -s trusts stat sizes, and /proc files claim size 0.
  [ -n "$pid" ] && [ -f "$RUN/$1.cmd" ] && cat "/proc/$pid/cmdline" 2>/dev/null | cmp -s - "$RUN/$1.cmd"
}

# forget NAME: drop a PID file whose process is gone (stale after a crash or a reboot).
forget() {
  if [ -f "$RUN/$1.pid" ] && ! alive "$1"; then
    say "$1: removing stale PID file (pid $(pid_of "$1") is not running)"
    rm -f "$RUN/$1.pid" "$RUN/$1.cmd" "$RUN/$1.spec"
  fi
}

# stop_strays NAME CMD...: kill processes running exactly CMD other than NAME's recorded PID.
# They are ours (CMD names our state dir) but lost their PID file, and would otherwise run
# twice next to the one up.sh starts (two schedulers, two kwoks fighting over pods).
stop_strays() {
  local name=$1 pattern pid; shift
  pattern=$(printf '%s ' "$@" | sed -e 's/ $//' -e 's/[][\.*^$+?(){}|]/\\&/g')
  for pid in $(pgrep -f -x -- "$pattern"); do
    [ "$pid" = "$(pid_of "$name")" ] && continue
    kill -KILL "$pid" 2>/dev/null && say "$name: stopped a stray copy (pid $pid) that had lost its PID file"
  done
  return 0
}

# port_pid PORT: PID of whatever listens on PORT ("?" when ss cannot tell), empty when free.
port_pid() {
  local line
  line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n 1)
  [ -n "$line" ] || return 0
  if [[ $line =~ pid=([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo "?"; fi
}

# require_free_port NAME PORT: refuse to start NAME when another process holds its port. A
# process whose command line names this state dir is one of ours that lost its PID file: it is
# stopped rather than reported.
require_free_port() {
  local pid args
  pid=$(port_pid "$2")
  [ -n "$pid" ] || return 0
  args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || true
  if [[ $args == *"=$STATE/"* || $args == *" $STATE/"* ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    say "$1: stopped a stray process of this stack (pid $pid) that held 127.0.0.1:$2 without a PID file"
    local deadline=$((SECONDS + 5))
    while [ -n "$(port_pid "$2")" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    pid=$(port_pid "$2")
    [ -n "$pid" ] || return 0
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || true
  fi
  # argv[0] rather than ss's thread name (node reports "MainThread").
  local exe=${args%% *}
  die "$1 cannot start: 127.0.0.1:$2 is in use by pid $pid (${exe##*/}), which this stack did not start (stop it, or run test/stack/down.sh if it is a stack from another KUBE_SHIP_STATE)"
}

# launch NAME CMD...: start CMD detached (own session, so a test runner exiting or being
# interrupted does not take the stack with it), stdio to the log, and record PID and argv.
launch() {
  local name=$1; shift
  mkdir -p "$RUN" "$LOGS"
  : >"$LOGS/$name.log"
  # 9>&-: the daemon must not inherit with_lock's descriptor, or it would hold the lock forever.
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$RUN/$name.pid"
  printf '%s\0' "$@" >"$RUN/$name.cmd"
  # Until setsid has exec'd, /proc/PID/cmdline is still the forked shell's; wait for the switch
  # so alive() is meaningful from here on.
  local deadline=$((SECONDS + 10))
  until alive "$name"; do
    running "$pid" || die "$name exited at once" "$name"
    [ $SECONDS -lt $deadline ] || die "$name (pid $pid) did not start within 10s" "$name"
    sleep 0.05
  done
}

# wait_for NAME SECONDS WHAT CHECK...: poll CHECK until it succeeds; fail early when NAME's
# process exits, and with its log tail when SECONDS pass.
wait_for() {
  local name=$1 seconds=$2 what=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && ! alive "$name"; then die "$name exited while waiting for $what" "$name"; fi
    [ $SECONDS -lt $deadline ] || die "$name: $what did not happen within ${seconds}s" "$name"
    sleep 0.2
  done
}

# running PID: the process exists and is not a zombie (our daemons are reparented to PID 1,
# which may take its time to reap them).
running() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# stop NAME [SECONDS]: SIGTERM the recorded PID, SIGKILL it after SECONDS (default 20; 0 kills
# at once).
stop() {
  local name=$1 seconds=${2:-20} pid signal=TERM
  forget "$name"
  pid=$(pid_of "$name")
  [ -n "$pid" ] || return 0
  [ "$seconds" != 0 ] || signal=KILL  # 0 seconds: a crash, not a shutdown
  kill -$signal "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + (seconds > 0 ? seconds : 5)))
  while running "$pid"; do
    if [ $SECONDS -ge $deadline ]; then
      [ $signal = KILL ] && die "$name (pid $pid) survived SIGKILL for 5s"
      say "$name (pid $pid) ignored SIGTERM for ${seconds}s; sending SIGKILL"
      signal=KILL deadline=$((SECONDS + 5))
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  rm -f "$RUN/$name.pid" "$RUN/$name.cmd" "$RUN/$name.spec"
  say "stopped $name (pid $pid)"
}

# dockerd runs its own containerd and stops it on a clean exit; after a SIGKILL or a crash that
# containerd may live on, so stop it too (recognised by its config path under our state dir).
# Its PID file must go as well: dockerd reuses a containerd whose PID still answers kill -0,
# which a not-yet-reaped zombie does, and then waits forever for its socket.
stop_orphan_containerd() {
  local dir=$STATE/docker/exec/containerd pid
  pid=$(cat "$dir/containerd.pid" 2>/dev/null) || return 0
  if running "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/containerd.toml"; then
    kill -KILL "$pid" 2>/dev/null || true
    say "stopped dockerd's leftover containerd (pid $pid)"
  fi
  rm -f "$dir/containerd.pid"
}

# dockerd bind-mounts its data root onto itself; a killed dockerd leaves that mount behind (and
# a restarted one stacks another). Unmount whatever is left under our docker dir while no
# dockerd of ours runs.
release_docker_mounts() {
  local m
  awk -v d="$STATE/docker/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

# fault.sh apiserver-stop leaves HOLD until apiserver-start. A marker older than 5 minutes is
# a test that died without restarting the apiserver, and no longer counts.
HOLD=$RUN/kube-apiserver.held
held() { [ -f "$HOLD" ] && [ $(($(date +%s) - $(stat -c %Y "$HOLD" 2>/dev/null || echo 0))) -lt 300 ]; }

# with_lock SECONDS: serialise up/down/fault runs on one state dir (test runners start up.sh
# concurrently); the lock is released when the script exits.
with_lock() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  if ! flock -n 9; then
    say "another stack script holds $STATE/.lock; waiting up to $1s"
    flock -w "$1" 9 || die "gave up after $1s waiting for $STATE/.lock (another up.sh/down.sh still running?)"
  fi
}
