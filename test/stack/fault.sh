#!/usr/bin/env bash
# Fault injection for e2e tests (etcd and every other component keep running):
#   fault.sh apiserver-stop   stop kube-apiserver; etcd keeps the data
#   fault.sh apiserver-start  start it again with the same flags and wait until /readyz is ok
# While stopped, a concurrent up.sh waits (up to 180s) for apiserver-start instead of
# restarting it, and another apiserver-stop waits its turn (up to 300s).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

case "${1:-}" in
  apiserver-stop)
    # Fault tests in parallel jest workers take turns: wait while another one holds the
    # apiserver stopped, so each sees exactly its own outage.
    deadline=$((SECONDS + 300))
    with_lock 600
    while held; do
      flock -u 9
      [ $SECONDS -lt $deadline ] || die "another test has held kube-apiserver stopped for over 300s ($HOLD)"
      sleep 0.5
      with_lock 600
    done
    alive kube-apiserver || die "kube-apiserver is not running (start the stack with test/stack/up.sh)"
    # Keep the exact argv so apiserver-start brings back the same server.
    cp "$RUN/kube-apiserver.cmd" "$RUN/kube-apiserver.saved-cmd"
    cp "$RUN/kube-apiserver.spec" "$RUN/kube-apiserver.saved-spec"
    touch "$HOLD"
    # Killed, not shut down: a graceful apiserver shutdown drains watches for tens of seconds,
    # and an outage is what the tests model anyway.
    stop kube-apiserver 0
    ;;
  apiserver-start)
    # No lock: a concurrent up.sh may hold it while it waits for this very step.
    if ! alive kube-apiserver; then
      [ -f "$RUN/kube-apiserver.saved-cmd" ] || die "no saved apiserver command line; run test/stack/up.sh"
      mapfile -d '' cmd <"$RUN/kube-apiserver.saved-cmd"
      launch kube-apiserver "${cmd[@]}"
      cp "$RUN/kube-apiserver.saved-spec" "$RUN/kube-apiserver.spec"
    fi
    server=$(sed -n 's/.*server: "\(.*\)".*/\1/p' "$STATE/admin.kubeconfig")
    wait_for kube-apiserver 120 "$server/readyz" \
      sh -c "curl -sf --max-time 5 --cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' '$server/readyz' | grep -qx ok"
    # Only now: the next test's apiserver-stop is waiting for the marker to go.
    rm -f "$HOLD"
    say "kube-apiserver is back on $server"
    ;;
  *) echo "usage: test/stack/fault.sh apiserver-stop|apiserver-start" >&2; exit 2 ;;
esac
