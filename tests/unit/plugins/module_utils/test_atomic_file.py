"""module_utils/atomic_file.py: the one writer of the node-side modules, with a real AnsibleModule's atomic_move.

What the callers rely on: the content is replaced in one rename from a hidden temporary file beside the target;
without a mode the replaced file's mode and owner stay (ipvs_reuse_metrics sets its own after); with a mode and an
owner (undo_record) the file gets exactly those, and a new file is never more readable than the mode, even during
the rename."""
import os
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubenode.ipvs_reuse.plugins.module_utils.atomic_file import write_atomically


@pytest.fixture()
def module():
    with patch_module_args({}):
        yield AnsibleModule(argument_spec={})


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


class Watched(object):
    """The real atomic_move, noting the temporary file it was given and the target's mode right after it."""

    def __init__(self, module):
        self.module = module
        self.moves = []

    def atomic_move(self, src, dest, **kwargs):
        self.moves.append({"src": src, "kwargs": kwargs})
        self.module.atomic_move(src, dest, **kwargs)
        self.moves[-1]["mode_after_move"] = mode_of(dest)


def test_new_file_with_a_mode_is_never_wider_than_it(tmp_path, module, umask_022):
    target = str(tmp_path / "record.json")
    watched = Watched(module)
    write_atomically(watched, target, b"{}\n", mode=0o600)
    assert read(target) == b"{}\n" and mode_of(target) == 0o600
    (move,) = watched.moves
    assert move["mode_after_move"] & ~0o600 == 0, oct(move["mode_after_move"])
    assert os.umask(0o022) == 0o022, "the caller's umask is put back"


@pytest.mark.parametrize("before, wanted", [(0o644, 0o600), (0o600, 0o640), (0o755, 0o644)])
def test_a_mode_replaces_the_mode_of_the_file_replaced(tmp_path, module, before, wanted):
    target = tmp_path / "sysctl.conf"
    target.write_bytes(b"old\n")
    os.chmod(str(target), before)
    write_atomically(module, str(target), b"new\n", mode=wanted)
    assert read(str(target)) == b"new\n" and mode_of(str(target)) == wanted


def test_without_a_mode_the_replaced_file_keeps_its_mode(tmp_path, module):
    target = tmp_path / "ipvs_reuse.prom"
    target.write_text("x 0\n")
    os.chmod(str(target), 0o640)
    write_atomically(module, str(target), "x 1\n")
    assert read(str(target)) == b"x 1\n" and mode_of(str(target)) == 0o640


def test_without_a_mode_a_new_file_gets_the_umask_mode(tmp_path, module, umask_022):
    target = str(tmp_path / "ipvs_reuse.prom")
    write_atomically(module, target, "x 1\n")
    assert mode_of(target) == 0o644


def test_text_is_written_as_utf8(tmp_path, module):
    target = str(tmp_path / "note.txt")
    write_atomically(module, target, u"n\u00e6ste\n")
    assert read(target) == u"n\u00e6ste\n".encode("utf-8")


def test_temporary_file_is_hidden_beside_the_target_and_gone_after(tmp_path, module):
    target = str(tmp_path / "ipvs_reuse.prom")
    watched = Watched(module)
    write_atomically(watched, target, "x 1\n")
    (move,) = watched.moves
    assert os.path.dirname(move["src"]) == str(tmp_path), "same directory, so the rename is atomic"
    name = os.path.basename(move["src"])
    assert name.startswith(".ipvs_reuse.prom.") and name.endswith(".tmp")
    assert os.listdir(str(tmp_path)) == ["ipvs_reuse.prom"]


class FailingMove(object):
    def atomic_move(self, src, dest, **kwargs):
        raise OSError(28, "No space left on device")


def test_a_failed_move_leaves_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "record.json"
    target.write_bytes(b"kept\n")
    with pytest.raises(OSError):
        write_atomically(FailingMove(), str(target), b"lost\n", mode=0o600)
    assert read(str(target)) == b"kept\n"
    assert os.listdir(str(tmp_path)) == ["record.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
@pytest.mark.parametrize("exists", [False, True])
def test_owner_and_mode_are_exact_setuid_included(tmp_path, module, exists):
    """undo_record restores a file's owner and mode; chown clears setuid, so it must come before chmod."""
    target = tmp_path / "helper"
    if exists:
        target.write_bytes(b"old\n")
    write_atomically(module, str(target), b"#!/bin/sh\n", mode=0o4750, owner=(4321, 4322))
    info = os.stat(str(target))
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4321, 4322, 0o4750)
