"""The built tarball passes galaxy-importer (what Galaxy runs on upload: ansible-doc on every plugin and role,
ansible-lint's production profile, changelog and tag checks) with no warning at all.

Settings: tests/release/galaxy-importer.cfg (ansible-test off: it needs a container engine; flake8 off as on
Galaxy). Needs the galaxy-importer package; set KUBENODE_REQUIRE_RELEASE_TOOLS=1 (CI does) to fail instead of
skipping when it is missing."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
MISSING = None if importlib.util.find_spec("galaxy_importer") else "galaxy-importer is not installed"
if MISSING and os.environ.get("KUBENODE_REQUIRE_RELEASE_TOOLS") == "1":
    raise RuntimeError("KUBENODE_REQUIRE_RELEASE_TOOLS=1 but %s" % MISSING)
pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def test_built_tarball_imports_without_warnings(tmp_path):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
               GALAXY_IMPORTER_CONFIG=os.path.join(REPO, "tests", "release", "galaxy-importer.cfg"))
    env.pop("ANSIBLE_CONFIG", None)
    build = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", REPO, "--output-path",
                            str(tmp_path)], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    assert build.returncode == 0, build.stdout
    tarball = next(path for path in tmp_path.iterdir() if path.name.endswith(".tar.gz"))
    proc = subprocess.run([sys.executable, "-m", "galaxy_importer.main", str(tarball)], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=1200,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-6000:]
    problems = [line for line in proc.stdout.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert problems == [], "\n".join(problems)

    with open(str(tmp_path / "importer_result.json")) as handle:
        result = json.load(handle)
    contents = dict(((item["content_type"], item["name"]), item) for item in result["contents"])
    for content_type, name in (("module", "ipvs_facts"), ("module", "ipvs_reuse_metrics"), ("filter", "classify"),
                               ("filter", "fleet_html"), ("filter", "node_metrics"), ("role", "assess")):
        assert (content_type, name) in contents, sorted(contents)
        assert contents[(content_type, name)]["description"], (content_type, name)
    assert result["docs_blob"]["collection_readme"]["html"]
    assert result["requires_ansible"] == ">=2.15.0"
