#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of this checkout laid out as ansible_collections/kubenode/ipvs_reuse.
# Expects the dev venv on PATH (scripts/test puts it there).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pip_version=$(python - <<'PY'
import re, ansible_test, os
text = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", text).group(1))
PY
)
stub="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$stub")"
cp "$repo/tests/sanity/get_pip_stub.py" "$stub"
work="$repo/.cache/sanity/ansible_collections/kubenode/ipvs_reuse"
rm -rf "$work"; mkdir -p "$work"
# tracked and new (not ignored) files, as a build would see them
(cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work")
cd "$work"
git init -q . && git add -A >/dev/null   # ansible-test lists the collection's files through git
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test sanity --requirements --python "$python_version" --color no "$@"
