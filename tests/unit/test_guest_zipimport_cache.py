"""The guests' zipimport code cache (tests/guests/zipimport-cache): a speed-up of the test bed only.

Each case runs in its own interpreter so that the hook never touches the pytest process.
"""
import marshal
import os
import subprocess
import sys
import zipfile

import pytest

HOOK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "tests", "guests", "zipimport-cache")
IMPORT_FROM_ZIP = (
    "import sys, kubenode_zipimport_cache\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import payload_mod\n"
    "print(payload_mod.answer())\n"
)


def make_zip(path, source):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("payload_mod.py", source)
    return str(path)


def run(zip_path, cache_dir, enabled=True):
    env = dict(os.environ, PYTHONPATH=HOOK_DIR, KUBENODE_ZIPIMPORT_CACHE_DIR=str(cache_dir),
               KUBENODE_ZIPIMPORT_CACHE="1" if enabled else "0", PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run([sys.executable, "-c", IMPORT_FROM_ZIP, zip_path], env=env,
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def test_first_import_compiles_and_stores(tmp_path, cache_dir):
    assert run(make_zip(tmp_path / "a.zip", "def answer():\n    return 42\n"), cache_dir) == "42"
    assert len(os.listdir(cache_dir)) == 1


def test_the_same_source_in_another_zip_is_served_from_the_cache(tmp_path, cache_dir):
    source = "def answer():\n    return 42\n"
    run(make_zip(tmp_path / "a.zip", source), cache_dir)
    (entry,) = os.listdir(cache_dir)
    # Put other code under the same key: if the cache is read, the second import returns it.
    other = compile("def answer():\n    return 'from cache'\n", "x", "exec")
    with open(os.path.join(cache_dir, entry), "wb") as handle:
        marshal.dump(other, handle)
    assert run(make_zip(tmp_path / "b.zip", source), cache_dir) == "from cache"


def test_changed_source_is_compiled_again(tmp_path, cache_dir):
    run(make_zip(tmp_path / "a.zip", "def answer():\n    return 42\n"), cache_dir)
    assert run(make_zip(tmp_path / "b.zip", "def answer():\n    return 43\n"), cache_dir) == "43"
    assert len(os.listdir(cache_dir)) == 2


def test_a_corrupt_entry_falls_back_to_compiling(tmp_path, cache_dir):
    source = "def answer():\n    return 42\n"
    run(make_zip(tmp_path / "a.zip", source), cache_dir)
    (entry,) = os.listdir(cache_dir)
    with open(os.path.join(cache_dir, entry), "wb") as handle:
        handle.write(b"not marshal data")
    assert run(make_zip(tmp_path / "b.zip", source), cache_dir) == "42"


def test_an_unwritable_cache_still_imports(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert run(make_zip(tmp_path / "a.zip", "def answer():\n    return 42\n"), blocker / "cache") == "42"


def test_switched_off_nothing_is_stored(tmp_path, cache_dir):
    assert run(make_zip(tmp_path / "a.zip", "def answer():\n    return 42\n"), cache_dir, enabled=False) == "42"
    assert not cache_dir.exists()
