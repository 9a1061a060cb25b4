"""The execution environment: ansible-builder turns execution-environment.yml into a build context that
installs the collection tarball, and its introspection finds the controller-side requirements declared in
meta/execution-environment.yml. No image is built: there is no container engine on these machines.

Needs the ansible-builder package; set KUBENODE_REQUIRE_RELEASE_TOOLS=1 (CI does) to fail instead of skipping."""
import os
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
BUILDER = shutil.which("ansible-builder", path=BIN + os.pathsep + os.environ.get("PATH", ""))
if BUILDER is None and os.environ.get("KUBENODE_REQUIRE_RELEASE_TOOLS") == "1":
    raise RuntimeError("KUBENODE_REQUIRE_RELEASE_TOOLS=1 but ansible-builder is not installed")
pytestmark = pytest.mark.skipif(BUILDER is None, reason="ansible-builder is not installed")


def run(command, cwd):
    proc = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A copy of the EE definition beside a freshly built collection tarball, as a user has after building."""
    work = tmp_path_factory.mktemp("ee")
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", REPO, "--output-path", str(work)], REPO)
    shutil.copy(os.path.join(REPO, "execution-environment.yml"), str(work))
    return work


def test_create_produces_a_build_context_that_installs_the_tarball(workdir):
    run([BUILDER, "create", "-f", "execution-environment.yml", "-c", "context", "--output-filename", "Containerfile"],
        str(workdir))
    context = workdir / "context"
    containerfile = (context / "Containerfile").read_text()
    tarballs = [name for name in os.listdir(str(context / "_build" / "collections")) if name.endswith(".tar.gz")]
    assert len(tarballs) == 1 and tarballs[0].startswith("kubenode-ipvs_reuse-")
    with open(str(context / "_build" / "requirements.yml")) as handle:
        requirements = yaml.safe_load(handle)
    assert requirements == {"collections": [{"name": "/build/collections/kubenode-ipvs_reuse.tar.gz",
                                             "type": "file"}]}
    # The steps that put the tarball where requirements.yml says, before the galaxy install.
    copy = containerfile.index("COPY _build/collections/ /build/collections/")
    rename = containerfile.index("mv kubenode-ipvs_reuse-*.tar.gz kubenode-ipvs_reuse.tar.gz")
    install = containerfile.index("ansible-galaxy collection install")
    assert copy < rename < install
    assert "introspect" in containerfile, "the builder stage collects the collections' Python and system needs"
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core' in containerfile
    assert os.access(str(context / "_build" / "scripts" / "assemble"), os.X_OK)


def test_introspection_finds_the_controller_requirements(workdir):
    """What the builder stage runs inside the image, run here on the installed collection."""
    collections = workdir / "collections"
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "--force", "-p", str(collections),
         next(str(path) for path in workdir.glob("kubenode-ipvs_reuse-*.tar.gz"))], str(workdir))
    output = run([BUILDER, "introspect", "--sanitize", str(collections)], str(workdir))
    python_section = output.split("python:")[1].split("system:")[0] if "python:" in output else output
    with open(os.path.join(REPO, "meta", "ee-requirements.txt")) as handle:
        wanted = [line.split(">")[0].split("=")[0].strip() for line in handle
                  if line.strip() and not line.startswith("#")]
    assert wanted, "meta/ee-requirements.txt lists the controller-side packages"
    for package in wanted:
        assert package in python_section, (package, output)
    assert "kubenode.ipvs_reuse" in output


def test_meta_execution_environment_points_at_existing_files():
    with open(os.path.join(REPO, "meta", "execution-environment.yml")) as handle:
        definition = yaml.safe_load(handle)
    assert definition["version"] == 1
    for key in ("python", "system"):
        assert os.path.isfile(os.path.join(REPO, definition["dependencies"][key])), key
