#!/usr/bin/env bash
# Run a command as root in a running guest:  tests/guests/ssh.sh NAME [COMMAND...]
# shellcheck source=tests/guests/lib.sh
source "$(dirname "$0")/lib.sh"

name="${1:?usage: ssh.sh NAME [COMMAND...]}"
shift
state="${RUN_DIR}/${name}"
[[ -f "${state}/port" ]] || die "no running guest named ${name}"
exec ssh "${SSH_OPTS[@]}" -i "$(cat "${state}/key")" -p "$(cat "${state}/port")" root@127.0.0.1 "$@"
