#!/usr/bin/env bash
# Build (or reuse from the cache) a Debian guest image for the test bed.
#
#   tests/guests/build-image.sh bookworm    # Debian 12, kernel 6.1 (linux-image-cloud-amd64)
#   tests/guests/build-image.sh bullseye    # Debian 11, kernel 5.10 (linux-image-cloud-amd64)
#
# Output, printed on stdout: a cache directory holding
#   disk.raw    ext4 file system image of the whole root (no partition table, root=/dev/vda)
#   vmlinuz     the image's own kernel, initrd.img its initramfs (qemu boots them with -kernel/-initrd)
#   release     the kernel release string of that kernel
# The directory name carries a hash of this script and of the guests' SSH public key: edit the
# recipe below and the next run builds a new image; otherwise the cached one is reused.
# Only the Debian mirror of this machine's apt sources (or KUBENODE_DEBIAN_MIRROR) is contacted. Needs root (debootstrap).
# shellcheck source=tests/guests/lib.sh
source "$(dirname "$0")/lib.sh"

suite="${1:?usage: build-image.sh bookworm|bullseye}"
case "${suite}" in
    bookworm|bullseye) ;;
    *) die "unsupported suite ${suite}: bookworm (kernel 6.1) or bullseye (kernel 5.10)" ;;
esac

packages=systemd-sysv,udev,openssh-server,python3,procps,iproute2,ipvsadm,iptables,ipset,conntrack,kmod,linux-image-cloud-amd64,curl,ca-certificates
image_size=2G

out="$(image_dir "${suite}")"
if [[ -f "${out}/disk.raw" && -f "${out}/vmlinuz" && -f "${out}/initrd.img" ]]; then
    log "reusing cached ${suite} image ${out}"
    printf '%s\n' "${out}"
    exit 0
fi
[[ ${EUID} -eq 0 ]] || die "debootstrap needs root to build the ${suite} image"

key="$(ssh_key)"
work="$(mktemp -d "${CACHE}/build-${suite}.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
root="${work}/rootfs"
started=${SECONDS}

[[ -n "${MIRROR}" ]] || die "no Debian mirror found in this machine's apt sources; set KUBENODE_DEBIAN_MIRROR"
log "debootstrap ${suite} from ${MIRROR}"
debootstrap --variant=minbase --include="${packages}" "${suite}" "${root}" "${MIRROR}" \
    > "${work}/debootstrap.log" 2>&1 || { tail -30 "${work}/debootstrap.log" >&2; die "debootstrap ${suite} failed"; }

log "configuring ${suite} guest"
echo "kubenode-${suite}" > "${root}/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 kubenode-%s\n' "${suite}" > "${root}/etc/hosts"
echo '/dev/vda / ext4 rw,relatime,errors=remount-ro 0 1' > "${root}/etc/fstab"
# QEMU user-mode networking: DHCP from 10.0.2.2, DNS at 10.0.2.3. The tests keep off 10.0.2.0/24.
mkdir -p "${root}/etc/systemd/network"
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n' > "${root}/etc/systemd/network/10-eth0.network"
echo 'nameserver 10.0.2.3' > "${root}/etc/resolv.conf"
# Root logs in with the cache's key only.
install -d -m 700 "${root}/root/.ssh"
install -m 600 "${key}.pub" "${root}/root/.ssh/authorized_keys"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
    > "${root}/etc/ssh/sshd_config.d/10-kubenode-test.conf"
# Units that only cost boot time or CPU in a throwaway TCG guest.
chroot "${root}" systemctl enable systemd-networkd.service >/dev/null 2>&1
# ipvsadm.service only restores saved rules (none here; kube-proxy owns IPVS) and is slow under TCG.
for unit in systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
            e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer ipvsadm.service; do
    ln -sf /dev/null "${root}/etc/systemd/system/${unit}"
done
# Test-bed speed-up: cache what zipimport compiles, so that each Ansible task stops recompiling
# ansible.module_utils from its fresh AnsiballZ zip (zipimport-cache/kubenode_zipimport_cache.py).
install -m 644 "${GUESTS_DIR}/zipimport-cache/kubenode_zipimport_cache.py" \
    "${GUESTS_DIR}/zipimport-cache/kubenode-zipimport-cache.pth" "${root}/usr/lib/python3/dist-packages/"
kernel="$(basename "$(ls "${root}"/boot/vmlinuz-*-cloud-amd64 | sort -V | tail -1)")"
release="${kernel#vmlinuz-}"
cp "${root}/boot/${kernel}" "${work}/vmlinuz"
cp "${root}/boot/initrd.img-${release}" "${work}/initrd.img"
echo "${release}" > "${work}/release"
chroot "${root}" apt-get clean
rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/cache/debconf/*-old "${root}"/tmp/*

log "mkfs.ext4 -d (${image_size})"
# stdout carries only the image directory (boot.sh reads it); mkfs.ext4 -q still prints a line there.
mkfs.ext4 -q -F -L kubenode-root -d "${root}" "${work}/disk.raw" "${image_size}" >&2

mkdir -p "$(dirname "${out}")"
rm -rf "${out}.tmp"
mkdir "${out}.tmp"
mv "${work}/disk.raw" "${work}/vmlinuz" "${work}/initrd.img" "${work}/release" "${out}.tmp/"
mv "${out}.tmp" "${out}"
log "built ${suite} image (kernel ${release}) in $((SECONDS - started)) s: ${out}"
printf '%s\n' "${out}"
