# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Version numbers as kernels and Kubernetes print them, and integers as sysctl files hold them. Pure, standard
library only.

Shared by the gatherer (on the node) and the classification engine (on the controller),
and by the node-side metrics module, so that no module run on a node carries the engine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_VERSION_RE = re.compile(r"^\s*v?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?")
_VERSION_CACHE = {}


def parse_version(text):
    """'v1.27.3-eks-a5565ad' -> (1, 27, 3); '4.18.0-305.el8' -> (4, 18, 0); else None."""
    if not isinstance(text, str):
        return None
    if text in _VERSION_CACHE:
        return _VERSION_CACHE[text]
    match = _VERSION_RE.match(text)
    version = tuple(int(part) if part is not None else 0 for part in match.groups()) if match else None
    if len(_VERSION_CACHE) < 4096:  # a fleet has few distinct versions; bound the memory anyway
        _VERSION_CACHE[text] = version
    return version


def format_version(version):
    return ".".join(str(part) for part in version) if version else "unknown"


def int_or_none(value):
    """An integer from an int or a decimal string; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
