"""Test-bed speed-up, installed only in the guest images: cache the code that zipimport compiles.

Every Ansible task ships its module and ansible.module_utils as a fresh zip file (AnsiballZ) and
imports them from it; Python writes no bytecode for modules imported from a zip, so each task
compiles all of module_utils again. On a TCG guest that compilation is most of a task's time.
This hook (loaded at interpreter start by kubenode-zipimport-cache.pth) keeps the compiled code
under /var/cache/kubenode-zipimport, keyed by the interpreter's bytecode magic number, the file's
path inside the zip and a hash of its source: the same source gives the same code object as
compiling it again, so what the module does is unchanged. Only the file name in tracebacks of a
cached module may point at an earlier task's (deleted) temporary zip.
Any error in the cache falls back to compiling, as Python would without this file.
"""
import hashlib
import importlib.util
import marshal
import os
import zipimport

CACHE_DIR = os.environ.get("KUBENODE_ZIPIMPORT_CACHE_DIR", "/var/cache/kubenode-zipimport")
_compile_source = getattr(zipimport, "_compile_source", None)


def _cache_path(pathname, source):
    inside = pathname.split(".zip" + os.sep, 1)[-1]
    digest = hashlib.sha256()
    for part in (importlib.util.MAGIC_NUMBER, inside.encode("utf-8", "surrogateescape"), source):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return os.path.join(CACHE_DIR, digest.hexdigest())


def _cached_compile_source(pathname, source):
    path = _cache_path(pathname, source)
    try:
        with open(path, "rb") as handle:
            return marshal.load(handle)
    except Exception:  # missing, unreadable or corrupt: compile as usual
        pass
    code = _compile_source(pathname, source)
    try:
        os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
        partial = "%s.%d.tmp" % (path, os.getpid())
        with open(partial, "wb") as handle:
            marshal.dump(code, handle)
        os.replace(partial, path)
    except Exception:  # read-only or full: the compiled code is still good
        pass
    return code


if _compile_source is not None and os.environ.get("KUBENODE_ZIPIMPORT_CACHE", "1") != "0":
    zipimport._compile_source = _cached_compile_source
