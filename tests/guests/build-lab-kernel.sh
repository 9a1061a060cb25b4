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
# The build tree stays under the cache, keyed like the first lab kernel plus the source package version: a build
# that was stopped (a CI time limit, a killed job) resumes where it stopped instead of starting over, and the second
# kernel is an incremental rebuild of the same tree. ${tree}/state says how far it got: lab (unpacked, patched,
# configured as the first lab kernel) or nofix1 (the revert patch applied on top). The tree is removed once both
# kernels are cached.
tree="$(lab_kernel_dir lab)"
tree="${CACHE}/kernel/tree-$(printf '%s %s' "$(basename "${tree}")" "${source_version}" | recipe_hash /dev/stdin)"
src="${tree}/linux-source-6.1"
state="$(cat "${tree}/state" 2>/dev/null || true)"
started=${SECONDS}
if [[ -z "${state}" || ( "${state}" == nofix1 && ! -f "$(lab_kernel_dir lab)/bzImage" ) ]]; then
    rm -rf "${tree}"
    mkdir -p "${tree}"
    log "unpacking ${tarball} (linux-source-6.1 ${source_version}) into ${tree}"
    tar -C "${tree}" -xf "${tarball}"

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
    state=lab
    printf '%s\n' "${state}" > "${tree}/state"
else
    log "resuming the build tree ${tree} (state: ${state}; $(find "${src}" -name '*.o' | wc -l) objects built so far)"
fi

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

lab_dir="$(lab_kernel_dir lab)"
if [[ "${state}" == lab ]]; then
    log "make -j${jobs} bzImage (about 9 min on 2 quiet cores; much longer next to other work)"
    make -C "${src}" -s -j"${jobs}" bzImage >"${tree}/build.log" 2>&1 || { tail -40 "${tree}/build.log" >&2; die "kernel build failed"; }
    [[ -f "${lab_dir}/bzImage" ]] || cache_kernel "${lab_dir}" -ipvs-prefix-lab ip_vs-pre-5.9-conntrack-reuse.patch
fi

if [[ "${variant}" == lab-nofix1 ]]; then
    if [[ "${state}" == lab ]]; then
        log "applying lab-kernel/ip_vs-pre-5.16-weight0-reuse.patch and lab-kernel/lab-nofix1.config in the same tree"
        patch -d "${src}" -p1 --forward < "${GUESTS_DIR}/lab-kernel/ip_vs-pre-5.16-weight0-reuse.patch" >&2
        (cd "${src}" && scripts/kconfig/merge_config.sh -m .config "${GUESTS_DIR}/lab-kernel/lab-nofix1.config" >/dev/null)
        make -C "${src}" -s olddefconfig >&2
        grep -qx 'CONFIG_LOCALVERSION="-ipvs-nofix2-nofix1-lab"' "${src}/.config" || die "lab-nofix1.config did not apply"
        state=nofix1
        printf '%s\n' "${state}" > "${tree}/state"
    fi
    incremental=${SECONDS}
    log "make -j${jobs} bzImage again (incremental: ip_vs_core.o, the release string, the link)"
    make -C "${src}" -j"${jobs}" bzImage >"${tree}/build-nofix1.log" 2>&1 \
        || { tail -40 "${tree}/build-nofix1.log" >&2; die "kernel build (lab-nofix1) failed"; }
    # The object list of a patched ip_vs_core.c: make must have rebuilt it (or the patch did not reach the build).
    # A resumed run may find it rebuilt already; then the object is simply newer than the patched source.
    [[ "${src}/net/netfilter/ipvs/ip_vs_core.o" -nt "${src}/net/netfilter/ipvs/ip_vs_core.c" ]] \
        || die "ip_vs_core.o is older than the patched ip_vs_core.c"
    grep -q 'kubenode.ipvs_reuse lab kernel: the condition as it was before' "${src}/net/netfilter/ipvs/ip_vs_core.c" \
        || die "the revert patch is not in ip_vs_core.c"
    log "incremental rebuild: $(grep -c '^  CC ' "${tree}/build-nofix1.log") objects compiled in $((SECONDS - incremental)) s"
    cache_kernel "${out}" -ipvs-nofix2-nofix1-lab ip_vs-pre-5.9-conntrack-reuse.patch ip_vs-pre-5.16-weight0-reuse.patch
fi
if [[ -f "${lab_dir}/bzImage" && -f "$(lab_kernel_dir lab-nofix1)/bzImage" ]]; then
    log "both lab kernels cached: removing the build tree ${tree}"
    rm -rf "${tree}"
fi
printf '%s\n' "${out}"
