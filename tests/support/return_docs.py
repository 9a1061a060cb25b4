"""A module's real result walked against its RETURN documentation, key by key (as rhel_facts.py and
listen_ports_facts.py document theirs: nested with contains, each entry with description, returned and type).

check_result(result, RETURN) gives the problems (a returned key RETURN does not document, a value of another type
than documented, an entry without description/returned/type, a dict documented without contains) and the documented
paths it met; documented_paths(RETURN) all paths RETURN documents, to tell which no run returned.

Paths read like ``ansible_facts.ipvs_reuse.kube_proxy.signals[].mode``: ``[]`` stands for any element of a list.
A dict whose keys are data (sysctl names, files) rather than fields is documented without contains and named in
``keyed_by_data``; its values are not walked.
"""
import yaml

# Keys Ansible (and the json callback: action) gives every result; a module documents only its own.
COMMON_KEYS = frozenset(("action", "changed", "failed", "msg", "invocation", "warnings", "deprecations", "diff", "skipped",
                         "exception", "rc", "module_stdout", "module_stderr", "stdout", "stderr"))
TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "dict": (dict,), "list": (list,)}
NEEDED = ("description", "returned", "type")


def _type_ok(value, kind):
    if value is None:
        return True  # documented as "V(null) when ..." in the description
    if kind in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, TYPES.get(kind, (object,)))


class _Walk(object):
    def __init__(self, keyed_by_data):
        self.keyed_by_data = frozenset(keyed_by_data)
        self.problems = []
        self.seen = set()

    def fields(self, mapping, contains, path):
        for key, value in mapping.items():
            child = "%s.%s" % (path, key) if path else key
            if key not in contains:
                self.problems.append("%s: returned but not documented in RETURN" % child)
                continue
            self.entry(value, contains[key], child)

    def entry(self, value, doc, path):
        self.seen.add(path)
        missing = [field for field in NEEDED if field not in doc]
        if missing:
            self.problems.append("%s: RETURN gives no %s" % (path, ", ".join(missing)))
        kind = doc.get("type")
        if not _type_ok(value, kind):
            self.problems.append("%s: documented as %s, returned %s %r" % (path, kind, type(value).__name__, value))
            return
        if value is None:
            return
        if kind == "dict":
            self.dict_value(value, doc, path)
        elif kind == "list":
            elements = doc.get("elements")
            for item in value:
                if not _type_ok(item, elements):
                    self.problems.append("%s[]: documented as elements %s, returned %s %r"
                                         % (path, elements, type(item).__name__, item))
                elif elements == "dict":
                    self.dict_value(item, doc, path + "[]")

    def dict_value(self, value, doc, path):
        if path in self.keyed_by_data:
            if "contains" in doc:
                self.problems.append("%s: keyed by data, but RETURN lists its keys in contains" % path)
            return
        if "contains" not in doc:
            self.problems.append("%s: a dict documented without contains (its keys: %s)" % (path, sorted(value)))
            return
        self.fields(value, doc["contains"], path)


def check_result(result, return_text, keyed_by_data=()):
    """(problems, documented paths met) for one module result against the module's RETURN text."""
    walk = _Walk(keyed_by_data)
    own = dict((key, value) for key, value in result.items() if key not in COMMON_KEYS and not key.startswith("_"))
    walk.fields(own, yaml.safe_load(return_text), "")
    return walk.problems, walk.seen


def documented_paths(return_text):
    """Every path RETURN documents."""
    paths = set()

    def visit(contains, prefix):
        for key, doc in contains.items():
            path = "%s.%s" % (prefix, key) if prefix else key
            paths.add(path)
            if "contains" in doc:
                visit(doc["contains"], path + "[]" if doc.get("type") == "list" else path)
    visit(yaml.safe_load(return_text), "")
    return paths
