#!/usr/bin/env bash
# Stop a guest started by boot.sh and throw away its disk overlay.
#
#   tests/guests/stop.sh NAME
# shellcheck source=tests/guests/lib.sh
source "$(dirname "$0")/lib.sh"

name="${1:?usage: stop.sh NAME}"
state="${RUN_DIR}/${name}"
if [[ -f "${state}/pid" ]]; then
    pid="$(cat "${state}/pid")"
    # Only signal the pid if it is still our qemu for this guest (pids get reused).
    if kill -0 "${pid}" 2>/dev/null && grep -q "kubenode-${name}" "/proc/${pid}/cmdline" 2>/dev/null; then
        kill "${pid}"
        for _ in $(seq 50); do
            kill -0 "${pid}" 2>/dev/null || break
            sleep 0.2
        done
        kill -0 "${pid}" 2>/dev/null && kill -9 "${pid}"
    fi
fi
rm -rf "${state}"
log "guest ${name} stopped"
