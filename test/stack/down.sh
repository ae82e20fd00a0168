#!/usr/bin/env bash
# Stops exactly the processes up.sh started (by the PIDs it recorded, newest first); anything
# else on the machine is left alone. State (etcd data, images, PKI, credentials) stays, so the
# next up.sh starts warm; add --purge to delete $KUBE_SHIP_STATE as well.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ -d "$STATE" ] || { say "nothing to stop: $STATE does not exist"; exit 0; }
with_lock 120
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  # dockerd stops its containerd itself, so it gets longer; a graceful apiserver would drain
  # watches for tens of seconds, which nobody needs from a test stack.
  stop "${COMPONENTS[i]}" "$([ "${COMPONENTS[i]}" = dockerd ] && echo 30 || echo 5)"
done
stop_orphan_containerd
release_docker_mounts
rm -f "$HOLD"
if [ "${1:-}" = --purge ]; then
  rm -rf "$STATE"
  say "removed $STATE"
fi
