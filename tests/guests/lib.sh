# shellcheck shell=bash
# Shared settings for the guest scripts. Sourced, never run.
#
# Everything built here (images, the lab kernel, the SSH key, running guests'
# state) lives outside the repository under KUBENODE_CACHE, keyed by a hash of
# the recipe that produced it, so a change to a recipe rebuilds only that part.

set -euo pipefail

GUESTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${GUESTS_DIR}/../.." && pwd)"
CACHE="${KUBENODE_CACHE:-${HOME}/.cache/kubenode-ipvs-reuse}"
RUN_DIR="${CACHE}/run"
# The Debian mirror: KUBENODE_DEBIAN_MIRROR, else the first main-archive URI of this machine's own apt sources
# (deb822 .sources files, then sources.list); no mirror host is written down in the repository.
apt_debian_mirror() {
    local uri
    uri=$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -E 's/^URIs:[[:space:]]*//' | tr ' ' '\n'
             grep -hE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                 | sed -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/'
           } | grep -E '^https?://' | grep -vE 'security|updates|backports' | head -n 1)
    printf '%s\n' "${uri%/}"
}
MIRROR="${KUBENODE_DEBIAN_MIRROR:-$(apt_debian_mirror)}"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# recipe_hash FILE...: short content hash of the files that define a build. Comment-only
# and blank lines of shell scripts (*.sh) are left out, so documenting a recipe does not
# trigger a rebuild; every other line counts.
recipe_hash() {
    local file
    for file in "$@"; do
        if [[ "${file}" == *.sh ]]; then
            grep -vE '^[[:space:]]*(#|$)' "${file}"
        else
            cat "${file}"
        fi
    done | sha256sum | cut -c1-16
}

# The key pair every guest trusts. Generated once per cache; its public half is
# part of the image recipe, so a new key means new images.
# Builders run in parallel on a fresh cache: the key is made once, under a lock, and appears whole
# (generated beside it, then renamed), or two builds would each bake a different key into their image.
ssh_key() {
    local key="${CACHE}/ssh/id_ed25519" lock_fd
    if [[ ! -f "${key}.pub" ]]; then
        mkdir -p "${CACHE}/ssh"
        chmod 700 "${CACHE}/ssh"
        exec {lock_fd}>"${CACHE}/ssh/.lock"
        flock "${lock_fd}"
        if [[ ! -f "${key}.pub" ]]; then
            rm -f "${key}.new" "${key}.new.pub"
            ssh-keygen -q -t ed25519 -N '' -C kubenode-ipvs-reuse-guests -f "${key}.new"
            mv "${key}.new" "${key}"
            mv "${key}.new.pub" "${key}.pub"
        fi
        exec {lock_fd}>&-
    fi
    printf '%s\n' "${key}"
}

# Options for talking to throwaway guests: host keys change with every image.
SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o LogLevel=ERROR -o ConnectTimeout=30 -o BatchMode=yes)

# Directory of one suite's cached image (disk.raw, vmlinuz, initrd.img).
image_dir() {
    local suite="$1" key
    key="$(ssh_key)"
    printf '%s/images/%s-%s\n' "${CACHE}" "${suite}" \
        "$(printf '%s' "${suite}" | cat - "${key}.pub" | recipe_hash /dev/stdin "${GUESTS_DIR}/build-image.sh" \
            "${GUESTS_DIR}/zipimport-cache/kubenode_zipimport_cache.py" \
            "${GUESTS_DIR}/zipimport-cache/kubenode-zipimport-cache.pth")"
}

# Directory of one cached lab kernel: lab (the pre-5.9 condition) or lab-nofix1 (also without the weight-0
# fix). Each key covers the build script and every patch and Kconfig fragment that variant is built from.
lab_kernel_dir() {
    local variant="${1:-lab}" lk="${GUESTS_DIR}/lab-kernel"
    case "${variant}" in
        lab)
            printf '%s/kernel/lab-%s\n' "${CACHE}" \
                "$(recipe_hash "${GUESTS_DIR}/build-lab-kernel.sh" "${lk}/ip_vs-pre-5.9-conntrack-reuse.patch" "${lk}/lab.config")"
            ;;
        lab-nofix1)
            printf '%s/kernel/lab-nofix1-%s\n' "${CACHE}" \
                "$(recipe_hash "${GUESTS_DIR}/build-lab-kernel.sh" "${lk}/ip_vs-pre-5.9-conntrack-reuse.patch" "${lk}/lab.config" \
                    "${lk}/ip_vs-pre-5.16-weight0-reuse.patch" "${lk}/lab-nofix1.config")"
            ;;
        *) die "unknown lab kernel ${variant} (lab or lab-nofix1)" ;;
    esac
}

# A builder (build-*.sh) holds a lock per build target, so that two test runs that need the same
# image or kernel at the same time build it once: the second waits, then finds it in the cache.
case "$(basename "$0")" in
    build-*.sh)
        mkdir -p "${CACHE}"
        # The lab kernels share one source tree (the second is the first plus a patch): one lock for both.
        if [[ "$(basename "$0")" == build-lab-kernel.sh ]]; then
            exec {__build_lock_fd}>"${CACHE}/.lock-build-lab-kernel"
        else
            exec {__build_lock_fd}>"${CACHE}/.lock-$(basename "$0" .sh)${1:+-$1}"
        fi
        flock "${__build_lock_fd}"
        ;;
esac
