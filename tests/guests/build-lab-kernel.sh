#!/usr/bin/env bash
# Build (or reuse from the cache) a lab kernel: Debian's linux-source-6.1 with the pre-5.9 IPVS
# connection-reuse condition put back (see lab-kernel/README.md for what exactly changes and why
# that reproduces problem 2 of pre-5.9 kernels).
#
#   tests/guests/build-lab-kernel.sh             # the lab kernel (keeps the weight-0 fix); prints its cache directory
#   tests/guests/build-lab-kernel.sh lab-nofix1  # the second lab kernel: also without the weight-0 fix
#
# Output: <cache>/kernel/lab-<hash>/ or <cache>/kernel/lab-nofix1-<hash>/, each holding
# {bzImage,release,config,source,patches}. Each hash covers this script and the patches and Kconfig
# fragments of that variant (lib.sh lab_kernel_dir); the linux-source-6.1 package version is
# recorded in `source`. The second kernel is the first plus one patch and a rename, so it is
# built in the first one's tree: when lab-nofix1 is asked for, the tree is built as the lab
# kernel (cached too, if it was not), then the revert patch is applied and make rebuilds only
# what changed (ip_vs_core.o, the files that embed the release string, the link).
# Needs the Debian packages linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev
# (installed with apt-get when missing and running as root).
# KUBENODE_KERNEL_JOBS sets make -j (default: number of CPUs).
# shellcheck source=tests/guests/lib.sh
source "$(dirname "$0")/lib.sh"

variant="${1:-lab}"
case "${variant}" in
    lab|lab-nofix1) ;;
    *) die "usage: build-lab-kernel.sh [lab|lab-nofix1]" ;;
esac
out="$(lab_kernel_dir "${variant}")"
if [[ -f "${out}/bzImage" ]]; then
    log "reusing cached ${variant} kernel ${out} ($(cat "${out}/release"))"
    printf '%s\n' "${out}"
    exit 0
fi

needed=(linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev)
missing=()
for pkg in "${needed[@]}"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${pkg}")
done
if ((${#missing[@]})); then
    [[ ${EUID} -eq 0 ]] || die "missing Debian packages: ${missing[*]} (apt-get install them)"
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi
tarball="$(ls /usr/src/linux-source-6.1.tar.* | head -1)"
[[ -f "${tarball}" ]] || die "no /usr/src/linux-source-6.1.tar.* after installing linux-source-6.1"
source_version="$(dpkg-query -W -f='${Version}' linux-source-6.1)"

mkdir -p "${CACHE}/kernel"
work="$(mktemp -d "${CACHE}/kernel/build.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
started=${SECONDS}
log "unpacking ${tarball} (linux-source-6.1 ${source_version})"
tar -C "${work}" -xf "${tarball}"
src="${work}/linux-source-6.1"

log "applying lab-kernel/ip_vs-pre-5.9-conntrack-reuse.patch"
patch -d "${src}" -p1 --forward < "${GUESTS_DIR}/lab-kernel/ip_vs-pre-5.9-conntrack-reuse.patch" >&2

log "configuring: x86_64_defconfig + kvm_guest.config + lab-kernel/lab.config"
make -C "${src}" -s x86_64_defconfig >&2
make -C "${src}" -s kvm_guest.config >&2
(cd "${src}" && scripts/kconfig/merge_config.sh -m .config "${GUESTS_DIR}/lab-kernel/lab.config" >/dev/null)
make -C "${src}" -s olddefconfig >&2
# Every =y of the fragment must have survived olddefconfig (a dependency could drop one silently).
while IFS= read -r line; do
    [[ "${line}" =~ ^CONFIG_[A-Z0-9_]+=y$ ]] || continue
    grep -qx "${line}" "${src}/.config" || die "lab kernel config lost ${line} (missing dependency?)"
done < "${GUESTS_DIR}/lab-kernel/lab.config"

jobs="${KUBENODE_KERNEL_JOBS:-$(nproc)}"

# cache_kernel DIR SUFFIX PATCH...: check the release suffix, then move the built kernel into DIR whole.
cache_kernel() {
    local dir="$1" suffix="$2" release
    shift 2
    release="$(make -C "${src}" -s kernelrelease)"
    [[ "${release}" == *"${suffix}" ]] || die "unexpected kernel release ${release} (wanted *${suffix})"
    rm -rf "${dir}.tmp"
    mkdir -p "${dir}.tmp"
    cp "${src}/arch/x86/boot/bzImage" "${dir}.tmp/bzImage"
    cp "${src}/.config" "${dir}.tmp/config"
    printf '%s\n' "${release}" > "${dir}.tmp/release"
    printf 'linux-source-6.1 %s\n' "${source_version}" > "${dir}.tmp/source"
    printf '%s\n' "$@" > "${dir}.tmp/patches"
    rm -rf "${dir}"
    mv "${dir}.tmp" "${dir}"
    log "built ${release} after $((SECONDS - started)) s: ${dir}"
}

log "make -j${jobs} bzImage (about 9 min on 2 cores)"
make -C "${src}" -s -j"${jobs}" bzImage >"${work}/build.log" 2>&1 || { tail -40 "${work}/build.log" >&2; die "kernel build failed"; }
lab_dir="$(lab_kernel_dir lab)"
[[ -f "${lab_dir}/bzImage" ]] || cache_kernel "${lab_dir}" -ipvs-prefix-lab ip_vs-pre-5.9-conntrack-reuse.patch

if [[ "${variant}" == lab-nofix1 ]]; then
    log "applying lab-kernel/ip_vs-pre-5.16-weight0-reuse.patch and lab-kernel/lab-nofix1.config in the same tree"
    patch -d "${src}" -p1 --forward < "${GUESTS_DIR}/lab-kernel/ip_vs-pre-5.16-weight0-reuse.patch" >&2
    (cd "${src}" && scripts/kconfig/merge_config.sh -m .config "${GUESTS_DIR}/lab-kernel/lab-nofix1.config" >/dev/null)
    make -C "${src}" -s olddefconfig >&2
    grep -qx 'CONFIG_LOCALVERSION="-ipvs-nofix2-nofix1-lab"' "${src}/.config" || die "lab-nofix1.config did not apply"
    incremental=${SECONDS}
    log "make -j${jobs} bzImage again (incremental: ip_vs_core.o, the release string, the link)"
    make -C "${src}" -j"${jobs}" bzImage >"${work}/build-nofix1.log" 2>&1 \
        || { tail -40 "${work}/build-nofix1.log" >&2; die "kernel build (lab-nofix1) failed"; }
    # The log names every object make rebuilt: ip_vs_core.o must be one (else the patch did not reach the build).
    grep -q 'net/netfilter/ipvs/ip_vs_core.o' "${work}/build-nofix1.log" || die "ip_vs_core.o was not rebuilt"
    log "incremental rebuild: $(grep -c '^  CC ' "${work}/build-nofix1.log") objects compiled in $((SECONDS - incremental)) s"
    cache_kernel "${out}" -ipvs-nofix2-nofix1-lab ip_vs-pre-5.9-conntrack-reuse.patch ip_vs-pre-5.16-weight0-reuse.patch
fi
printf '%s\n' "${out}"
