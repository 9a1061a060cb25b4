#!/usr/bin/env bash
# Build (or reuse from the cache) the lab kernel: Debian's linux-source-6.1 with the
# pre-5.9 IPVS connection-reuse condition put back (see lab-kernel/README.md for what
# exactly changes and why that reproduces problem 2 of pre-5.9 kernels).
#
#   tests/guests/build-lab-kernel.sh        # prints the cache directory holding bzImage
#
# Output: <cache>/kernel/lab-<hash>/{bzImage,release,config}. The hash covers this script,
# the patch and the Kconfig fragment; the linux-source-6.1 package version is recorded in
# `release`. Needs the Debian packages linux-source-6.1 build-essential bc bison flex
# libelf-dev libssl-dev (installed with apt-get when missing and running as root).
# KUBENODE_KERNEL_JOBS sets make -j (default: number of CPUs).
# shellcheck source=tests/guests/lib.sh
source "$(dirname "$0")/lib.sh"

out="$(lab_kernel_dir)"
if [[ -f "${out}/bzImage" ]]; then
    log "reusing cached lab kernel ${out} ($(cat "${out}/release"))"
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
log "make -j${jobs} bzImage (about 9 min on 2 cores)"
make -C "${src}" -s -j"${jobs}" bzImage >"${work}/build.log" 2>&1 || { tail -40 "${work}/build.log" >&2; die "kernel build failed"; }
release="$(make -C "${src}" -s kernelrelease)"
[[ "${release}" == *-ipvs-prefix-lab ]] || die "unexpected kernel release ${release}"

rm -rf "${out}.tmp"
mkdir -p "${out}.tmp"
cp "${src}/arch/x86/boot/bzImage" "${out}.tmp/bzImage"
cp "${src}/.config" "${out}.tmp/config"
printf '%s\n' "${release}" > "${out}.tmp/release"
printf 'linux-source-6.1 %s\n' "${source_version}" > "${out}.tmp/source"
mv "${out}.tmp" "${out}"
log "built lab kernel ${release} in $((SECONDS - started)) s: ${out}"
printf '%s\n' "${out}"
