#!/bin/sh
# Ansible managed
# kubenode.ipvs_reuse pin_sysctl keeper: kube-proxy writes net.ipv4.vs.conn_reuse_mode=0 each time it starts on
# this node; this puts the pinned value back and logs every correction to the journal. It reads the value from
# the pin file, so the file stays the one source of truth. Run by kubenode-ipvs-reuse-pin.timer.
# Pinned here: net.ipv4.vs.conn_reuse_mode; each is checked and corrected on its own.
set -u
pin_file=/etc/sysctl.d/90-kubenode-ipvs-reuse.conf
status=0
# node_exporter's textfile collector: corrections per sysctl (a counter, carried over from the file itself), when the
# last correction and the last check were. Written atomically (a new file in the same directory, then rename); no
# directory, no file, and the pin is kept all the same.
textfile=/var/lib/prometheus/node-exporter/ipvs_reuse_keeper.prom
textfile_dir=$(dirname "${textfile}")
now=$(date +%s)
previous=
# Only a regular file (not a symlink, FIFO or device), and only its first 64 KiB.
if [ -f "${textfile}" ] && [ ! -L "${textfile}" ]; then
    previous=$(dd if="${textfile}" bs=65536 count=1 2>/dev/null)
fi
corrections=
last_corrections=
corrected=0

previous_value() {
    printf '%s\n' "${previous}" | sed -n "s/^$1{sysctl=\"net\.ipv4\.vs\.$2\"} \([0-9]\{1,15\}\)\$/\1/p" | tail -n 1
}

record() {
    name=$1
    count=$(previous_value ipvs_reuse_keeper_corrections_total "${name}")
    last=$(previous_value ipvs_reuse_keeper_last_correction_timestamp_seconds "${name}")
    if [ "${corrected}" = 1 ]; then
        count=$(( ${count:-0} + 1 ))
        last=${now}
    fi
    corrections="${corrections}ipvs_reuse_keeper_corrections_total{sysctl=\"net.ipv4.vs.${name}\"} ${count:-0}
"
    [ -z "${last}" ] || last_corrections="${last_corrections}ipvs_reuse_keeper_last_correction_timestamp_seconds{sysctl=\"net.ipv4.vs.${name}\"} ${last}
"
}

write_textfile() {
    [ -d "${textfile_dir}" ] || return 0
    if [ -d "${textfile}" ] && [ ! -L "${textfile}" ]; then
        echo "<4>not writing keeper metrics: ${textfile} is a directory"
        return 0
    fi
    tmp="${textfile_dir}/.ipvs_reuse_keeper.prom.$$"
    rm -f "${tmp}"
    # set -C: create the temporary file, never write through something already there
    if (set -C; {
            echo "# HELP ipvs_reuse_keeper_corrections_total Times the pin keeper put a pinned sysctl back (kube-proxy or another writer changed it)."
            echo "# TYPE ipvs_reuse_keeper_corrections_total counter"
            printf '%s' "${corrections}"
            if [ -n "${last_corrections}" ]; then
                echo "# HELP ipvs_reuse_keeper_last_correction_timestamp_seconds When the pin keeper last put the sysctl back (seconds since the epoch)."
                echo "# TYPE ipvs_reuse_keeper_last_correction_timestamp_seconds gauge"
                printf '%s' "${last_corrections}"
            fi
            echo "# HELP ipvs_reuse_keeper_last_check_timestamp_seconds When the pin keeper last compared the live values with the pin (seconds since the epoch)."
            echo "# TYPE ipvs_reuse_keeper_last_check_timestamp_seconds gauge"
            echo "ipvs_reuse_keeper_last_check_timestamp_seconds ${now}"
        } > "${tmp}") 2>/dev/null && chmod 0644 "${tmp}" && mv -f "${tmp}" "${textfile}"; then
        return 0
    fi
    rm -f "${tmp}"
    echo "<4>could not write the keeper metrics to ${textfile}"
}

keep() {
    name=$1
    live_file=/proc/sys/net/ipv4/vs/${name}
    wanted=$(sed -n "s/^[[:space:]]*net\.ipv4\.vs\.${name}[[:space:]]*=[[:space:]]*\([0-9][0-9]*\)[[:space:]]*\$/\1/p" \
        "${pin_file}" 2>/dev/null | tail -n 1)
    if [ -z "${wanted}" ]; then
        echo "<3>no net.ipv4.vs.${name} value in ${pin_file}: nothing to keep"
        return 1
    fi
    # Until ip_vs is loaded (kube-proxy loads it in IPVS mode) there is no value to correct.
    [ -e "${live_file}" ] || return 0
    live=$(cat "${live_file}")
    [ "${live}" = "${wanted}" ] && return 0
    if echo "${wanted}" > "${live_file}"; then
        corrected=1
        echo "<4>corrected net.ipv4.vs.${name} from ${live} to ${wanted} (pinned in ${pin_file}; kube-proxy or another writer changed it)"
    else
        echo "<3>could not set net.ipv4.vs.${name} to ${wanted} (live value ${live})"
        return 1
    fi
}

corrected=0
keep conn_reuse_mode || status=1
record conn_reuse_mode
write_textfile
exit "${status}"
