#!/usr/bin/env bash
# Start a throwaway guest under qemu (TCG) and wait until it answers SSH.
#
#   tests/guests/boot.sh NAME bookworm|bullseye [stock|lab|lab-nofix1] [PORT]
#
# NAME     unique name of this guest; its state lives in <cache>/run/NAME
# suite    which cached image to boot (built on demand by build-image.sh)
# kernel   stock: the image's own Debian kernel and initrd (6.1 on bookworm, 5.10 on bullseye)
#          lab:   the lab kernel from build-lab-kernel.sh (built in, no initrd)
#          lab-nofix1: the second lab kernel, also without the weight-0 fix (build-lab-kernel.sh lab-nofix1)
# PORT     host port forwarded to the guest's sshd on 127.0.0.1 (default: a free one)
#
# The disk is opened with snapshot=on: every write goes to a temporary overlay that qemu
# drops when it exits, so the cached image stays clean. The overlay lives as long as the
# qemu process, so an in-guest reboot (ansible.builtin.reboot) keeps the guest's changes
# and comes back on the same port. Prints "PORT" on stdout when SSH answers; writes
# <cache>/run/NAME/{pid,port,key,console.log}. Stop it with tests/guests/stop.sh NAME.
# Environment: KUBENODE_GUEST_MEM (MiB, default 1024), KUBENODE_GUEST_CPU (qemu -cpu model, default max),
# KUBENODE_BOOT_TIMEOUT (s, default 900).
# shellcheck source=tests/guests/lib.sh
source "$(dirname "$0")/lib.sh"

name="${1:?usage: boot.sh NAME bookworm|bullseye [stock|lab|lab-nofix1] [PORT]}"
suite="${2:?usage: boot.sh NAME bookworm|bullseye [stock|lab|lab-nofix1] [PORT]}"
kernel="${3:-stock}"
port="${4:-}"
mem="${KUBENODE_GUEST_MEM:-1024}"
cpu="${KUBENODE_GUEST_CPU:-max}"
timeout="${KUBENODE_BOOT_TIMEOUT:-900}"

[[ "${name}" =~ ^[A-Za-z0-9._-]+$ ]] || die "guest name must be [A-Za-z0-9._-]+: ${name}"
state="${RUN_DIR}/${name}"
if [[ -f "${state}/pid" ]] && kill -0 "$(cat "${state}/pid")" 2>/dev/null; then
    die "guest ${name} is already running (pid $(cat "${state}/pid")); stop it first"
fi

image="$("${GUESTS_DIR}/build-image.sh" "${suite}")"
key="$(ssh_key)"
cmdline="root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=10"
case "${kernel}" in
    stock) boot=(-kernel "${image}/vmlinuz" -initrd "${image}/initrd.img") ;;
    lab|lab-nofix1) boot=(-kernel "$("${GUESTS_DIR}/build-lab-kernel.sh" "${kernel}")/bzImage") ;;
    *)     die "kernel must be stock, lab or lab-nofix1, not ${kernel}" ;;
esac

if [[ -z "${port}" ]]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

rm -rf "${state}"
mkdir -p "${state}"
printf '%s\n' "${port}" > "${state}/port"
printf '%s\n' "${key}" > "${state}/key"
printf '%s %s\n' "${suite}" "${kernel}" > "${state}/flavour"

# TMPDIR: where qemu puts the -snapshot overlay, so stop.sh removes it with the state.
TMPDIR="${state}" qemu-system-x86_64 \
    -name "kubenode-${name}" \
    -accel tcg -cpu "${cpu}" -m "${mem}" -smp 1 \
    -display none -daemonize -pidfile "${state}/pid" \
    -serial "file:${state}/console.log" \
    -drive "file=${image}/disk.raw,format=raw,if=virtio,snapshot=on" \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:${port}-:22" \
    -device virtio-net-pci,netdev=net0 \
    -device virtio-rng-pci \
    "${boot[@]}" -append "${cmdline}" \
    > "${state}/qemu.log" 2>&1 || { cat "${state}/qemu.log" >&2; die "qemu did not start"; }

log "guest ${name} (${suite}, ${kernel} kernel) started, pid $(cat "${state}/pid"), waiting for SSH on 127.0.0.1:${port}"
started=${SECONDS}
until ssh "${SSH_OPTS[@]}" -i "${key}" -p "${port}" root@127.0.0.1 true 2>/dev/null; do
    if ! kill -0 "$(cat "${state}/pid")" 2>/dev/null; then
        tail -30 "${state}/console.log" >&2
        die "guest ${name} exited during boot"
    fi
    if ((SECONDS - started > timeout)); then
        tail -30 "${state}/console.log" >&2
        die "guest ${name} did not answer SSH within ${timeout} s"
    fi
    sleep 2
done
log "guest ${name} answers SSH after $((SECONDS - started)) s"
printf '%s\n' "${port}"
