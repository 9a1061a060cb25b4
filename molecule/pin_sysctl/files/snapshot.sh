#!/bin/sh
# Print everything the pin_sysctl role may change on the guest (live values, timer state, and the name, mode,
# owner, mtime and hash of each managed file), so that two snapshots compare equal only if nothing changed.
cat /proc/sys/net/ipv4/vs/conn_reuse_mode /proc/sys/net/ipv4/vs/conntrack
systemctl is-enabled kubenode-ipvs-reuse-pin.timer || true
for f in /etc/sysctl.d/90-kubenode-ipvs-reuse.conf /etc/modules-load.d/90-kubenode-ipvs-reuse.conf \
         /usr/local/sbin/kubenode-ipvs-reuse-pin /etc/systemd/system/kubenode-ipvs-reuse-pin.service \
         /etc/systemd/system/kubenode-ipvs-reuse-pin.timer /var/lib/kubenode-ipvs-reuse/pin_sysctl.json; do
    if [ -e "$f" ]; then stat -c '%n %a %u %g %Y' "$f"; sha256sum "$f"; else echo "$f absent"; fi
done
