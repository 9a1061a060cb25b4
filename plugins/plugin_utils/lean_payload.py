# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lean transport of ipvs_facts: the program the node's Python runs, built on the controller.

The program carries the sources of ``module_utils/node_gather.py`` and of the collection's module_utils it
imports (the gatherer, its tables, the version parser), found by reading their import statements at run time,
so it follows any change to those files. It carries nothing of AnsibleModule: an import of ``ansible.*`` or of
another collection refuses the lean transport (LeanUnavailable) and the action plugin runs the module.

On the node, a bootstrap that any Python parses (2.x included) checks the version first, and answers
``{"_ipvs_reuse_lean_python_too_old": "x.y.z"}`` below MIN_PYTHON. Then an import hook serves the embedded
sources, under their own names, ahead of anything installed on the node, and ``node_gather.lean_main`` prints
the result as one JSON line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import importlib
import json
import os
import re
import zlib

UTILS = "ansible_collections.kubenode.ipvs_reuse.plugins.module_utils"
ENTRY = UTILS + ".node_gather"
MIN_PYTHON = (3, 8)
TOO_OLD_KEY = "_ipvs_reuse_lean_python_too_old"

BOOTSTRAP = """import sys
sys.path[:] = [entry for entry in sys.path if entry]
if sys.version_info < %(min)r:
    sys.stdout.write('{"%(too_old)s": "%%d.%%d.%%d"}\\n' %% tuple(sys.version_info[:3]))
    sys.exit(0)
import binascii, zlib
exec(zlib.decompress(binascii.a2b_base64("%(program)s")).decode("utf-8"))
lean_main(node_params(%(params)s))
"""

# Plain classes rather than importlib.abc's (whose import costs more than the gatherer's own work).
PROGRAM = """import sys
from importlib.machinery import ModuleSpec
SOURCES = %(sources)r
PACKAGES = %(packages)r


class EmbeddedSources:
    def find_spec(self, name, path=None, target=None):
        if name in SOURCES or name in PACKAGES:
            return ModuleSpec(name, self, is_package=name in PACKAGES)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if module.__name__ in SOURCES:
            module.__file__ = "<kubenode.ipvs_reuse lean>/" + module.__name__.rsplit(".", 1)[-1] + ".py"
            exec(compile(SOURCES[module.__name__], module.__file__, "exec"), module.__dict__)


def node_params(params):
    # the path option expanded on the node, as AnsibleModule's type=path does (~: the home of the command's user)
    import os
    return dict(params, root=os.path.expanduser(os.path.expandvars(params["root"])))


sys.meta_path.insert(0, EmbeddedSources())
from %(entry)s import lean_main
"""


class LeanUnavailable(Exception):
    """The lean transport cannot carry the gatherer; the reason is the message."""


def _utils_file(name):
    """The path of the collection's module_utils module ``name`` (dotted, below UTILS), or None."""
    package = importlib.import_module(UTILS)
    relative = name[len(UTILS) + 1:].replace(".", os.sep) + ".py"
    for directory in getattr(package, "__path__", []):
        path = os.path.join(directory, relative)
        if os.path.isfile(path):
            return path
    return None


# An import statement at the start of a line: "from X import a, b" (parenthesized over lines too) or "import X".
# A scan rather than ast.parse: it runs for every node (each in its own worker process) and costs a tenth.
_IMPORT_RE = re.compile(r"^[ \t]*(?:from[ \t]+([.\w]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)|import[ \t]+([^\n#]+))", re.M)


def _imported_names(text):
    """(module, names imported from it) for every import statement of text; relative modules as UTILS.x."""
    for match in _IMPORT_RE.finditer(text):
        module, names, plain = match.groups()
        if plain is not None:
            for part in plain.split(","):
                yield part.split()[0] if part.split() else "", ()
            continue
        if module.startswith("."):  # relative: a sibling in module_utils (the collection's files use only level 1)
            module = UTILS + ("." + module.lstrip(".") if module.strip(".") else "")
        yield module, tuple(part.split()[0] for part in names.strip("()").replace("\n", " ").split(",") if part.split())


def _dependencies(text):
    """The collection module_utils that text imports; LeanUnavailable for an import only AnsiballZ would carry."""
    found = set()
    for module, names in _imported_names(text):
        if module == UTILS:  # from ...module_utils import knowledge
            found.update(UTILS + "." + name for name in names)
        elif module.startswith(UTILS + "."):
            found.add(module)
        elif module == "__future__" or not module.startswith(("ansible", "ansible_collections")):
            continue  # the standard library, which the node has
        else:
            raise LeanUnavailable("the gatherer imports %s, which only the module's payload carries" % module)
    return found


def embedded_sources(entry=ENTRY):
    """{dotted name: source text} of entry and every collection module_utils it needs, read from disk now."""
    sources = {}
    pending = [entry]
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        path = _utils_file(name)
        if path is None:
            raise LeanUnavailable("%s is not installed with the collection" % name)
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        sources[name] = text
        pending.extend(sorted(_dependencies(text) - set(sources)))
    return sources


def packages_of(names):
    """The parent packages of dotted module names (all of them, down from ansible_collections)."""
    packages = set()
    for name in names:
        parts = name.split(".")
        packages.update(".".join(parts[:end]) for end in range(1, len(parts)))
    return sorted(packages)


_INSTALLED = []  # the encoded program of the installed sources, once per process; see encoded_program


def encoded_program(sources=None):
    """The program (the import hook and the sources) compressed and base64-encoded, for sources or the installed ones.

    The installed ones are read once per process. The action plugin asks for them when it is imported, which
    Ansible does once in its main process (the strategy loads the action's class) before it forks a worker per
    host and task; each worker then finds them ready instead of reading and compressing them again.
    """
    if sources is None and _INSTALLED:
        return _INSTALLED[0]
    chosen = embedded_sources() if sources is None else sources
    program = PROGRAM % {"sources": chosen, "packages": packages_of(chosen), "entry": ENTRY}
    encoded = binascii.b2a_base64(zlib.compress(program.encode("utf-8"), 9)).decode("ascii").strip()
    if sources is None:
        _INSTALLED.append(encoded)
    return encoded


def node_program(params, sources=None):
    """The Python text the node runs: the bootstrap with the program inside, then the call with params.

    params must be plain JSON data (the options as the module would see them after validation). They are passed
    as ASCII JSON text, so that any Python, 2.x included, parses the bootstrap and reaches the version check.
    """
    return BOOTSTRAP % {"min": MIN_PYTHON, "too_old": TOO_OLD_KEY, "program": encoded_program(sources),
                        "params": "__import__('json').loads(%r)" % json.dumps(params, sort_keys=True)}


def last_json_object(stdout):
    """The last line of stdout that is a JSON object, or None. Text before it (a login banner) is ignored."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None
