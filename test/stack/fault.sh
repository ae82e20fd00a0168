#!/usr/bin/env bash
# Fault injection for e2e tests (etcd and every other component keep running):
#   fault.sh apiserver-stop   stop kube-apiserver; etcd keeps the data
#   fault.sh apiserver-start  start it again with the same flags and wait until /readyz is ok
# While stopped, a concurrent up.sh waits (up to 180s) for apiserver-start instead of
# restarting it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

case "${1:-}" in
  apiserver-stop)
    with_lock 600
    alive kube-apiserver || die "kube-apiserver is not running (start the stack with test/stack/up.sh)"
    # Keep the exact argv so apiserver-start brings back the same server.
    cp "$RUN/kube-apiserver.cmd" "$RUN/kube-apiserver.saved-cmd"
    cp "$RUN/kube-apiserver.spec" "$RUN/kube-apiserver.saved-spec"
    touch "$RUN/kube-apiserver.held"
    # A short grace: a graceful apiserver shutdown drains watches for tens of seconds, and a
    # crash is what the tests model anyway.
    stop kube-apiserver 2
    ;;
  apiserver-start)
    # No lock: a concurrent up.sh may hold it while it waits for this very step.
    if ! alive kube-apiserver; then
      [ -f "$RUN/kube-apiserver.saved-cmd" ] || die "no saved apiserver command line; run test/stack/up.sh"
      mapfile -d '' cmd <"$RUN/kube-apiserver.saved-cmd"
      launch kube-apiserver "${cmd[@]}"
      cp "$RUN/kube-apiserver.saved-spec" "$RUN/kube-apiserver.spec"
    fi
    rm -f "$RUN/kube-apiserver.held"
    server=$(sed -n 's/.*server: "\(.*\)".*/\1/p' "$STATE/admin.kubeconfig")
    wait_for kube-apiserver 120 "$server/readyz" \
      sh -c "curl -sf --max-time 5 --cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' '$server/readyz' | grep -qx ok"
    say "kube-apiserver is back on $server"
    ;;
  *) echo "usage: test/stack/fault.sh apiserver-stop|apiserver-start" >&2; exit 2 ;;
esac
