#!/bin/sh
# Ansible managed
# kubenode.ipvs_reuse pin_sysctl keeper: kube-proxy writes net.ipv4.vs.conn_reuse_mode=0 each time it starts on
# this node; this puts the pinned value back and logs every correction to the journal. It reads the value from
# the pin file, so the file stays the one source of truth. Run by kubenode-ipvs-reuse-pin.timer.
set -u
pin_file=/etc/sysctl.d/90-kubenode-ipvs-reuse.conf
live_file=/proc/sys/net/ipv4/vs/conn_reuse_mode

wanted=$(sed -n 's/^[[:space:]]*net\.ipv4\.vs\.conn_reuse_mode[[:space:]]*=[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' \
    "${pin_file}" 2>/dev/null | tail -n 1)
if [ -z "${wanted}" ]; then
    echo "<3>no net.ipv4.vs.conn_reuse_mode value in ${pin_file}: nothing to keep"
    exit 1
fi
# Until ip_vs is loaded (kube-proxy loads it in IPVS mode) there is no value to correct.
[ -e "${live_file}" ] || exit 0
live=$(cat "${live_file}")
[ "${live}" = "${wanted}" ] && exit 0
if echo "${wanted}" > "${live_file}"; then
    echo "<4>corrected net.ipv4.vs.conn_reuse_mode from ${live} to ${wanted} (pinned in ${pin_file}; kube-proxy or another writer changed it)"
else
    echo "<3>could not set net.ipv4.vs.conn_reuse_mode to ${wanted} (live value ${live})"
    exit 1
fi
