# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: survey_value
short_description: Read a role variable as an AWX survey or the inventory gives it
version_added: 1.1.0
description:
  - AWX survey answers reach the play as strings. This filter is the one place where the collection's roles turn
    them into the type the variable has, and where a value of the wrong type is refused with a clear message.
  - For O(kind=dict), a dict is kept; a string must be JSON or YAML text of a mapping (an empty string is V({})).
    C(key=value) text is refused.
  - For O(kind=list), a list is kept; a string must be JSON or YAML text of a list (an empty string is V([])). A
    plain string such as V(problem1) is refused, never read letter by letter.
  - For O(kind=str), a string is kept with surrounding white space removed; a number, a list or a dict is refused.
author:
  - kubenode.ipvs_reuse contributors
positional: name, kind
options:
  _input:
    description: The variable's value.
    type: raw
    required: true
  name:
    description: The variable's name, for the message.
    type: str
    required: true
  kind:
    description: The type the variable has.
    type: str
    choices: [dict, list, str]
    required: true
"""

EXAMPLES = r"""
- name: Read assess_policy whether it is a dict or JSON text from a survey
  ansible.builtin.debug:
    msg: "{{ assess_policy | kubenode.ipvs_reuse.survey_value('assess_policy', 'dict') }}"
"""

RETURN = r"""
_value:
  description: The value with the type O(kind) names.
  type: raw
"""

from collections.abc import Mapping, Sequence

import yaml

from ansible.errors import AnsibleFilterError

EXAMPLE_TEXT = {"dict": '{"allow_pin": false}', "list": '["problem1", "unknown"]'}
EMPTY = {"dict": dict, "list": list, "str": str}


class SurveyValueError(ValueError):
    pass


def _type_name(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Mapping):
        return "a dict"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Sequence):
        return "a list"
    return "a %s" % type(value).__name__


def read_survey_value(value, name, kind):
    """value as the type kind; SurveyValueError with an operator's message when it cannot be."""
    if kind not in EMPTY:
        raise SurveyValueError("survey_value: kind must be dict, list or str, not %r" % (kind,))
    if value is None:
        return EMPTY[kind]()
    if kind == "str":
        if isinstance(value, str):
            return str(value).strip()
        raise SurveyValueError("%s must be a string, got %s (%r); quote it in the inventory, e.g. %s: \"ipvs\""
                               % (name, _type_name(value), value, name))
    wanted = Mapping if kind == "dict" else list
    if isinstance(value, wanted):
        return dict(value) if kind == "dict" else list(value)
    if not isinstance(value, str):
        raise SurveyValueError("%s must be a %s, got %s (%r)" % (name, kind, _type_name(value), value))
    text = value.strip()
    if not text:
        return EMPTY[kind]()
    hint = "give it as JSON or YAML text of a %s, e.g. %s" % (kind, EXAMPLE_TEXT[kind])
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or "not JSON or YAML")
        raise SurveyValueError("%s is text that does not parse (%s): %r; %s" % (name, problem, text[:200], hint))
    if isinstance(parsed, wanted):
        return dict(parsed) if kind == "dict" else list(parsed)
    if kind == "dict" and "=" in text:
        raise SurveyValueError("%s is key=value text (%r), which is not accepted; %s" % (name, text[:200], hint))
    raise SurveyValueError("%s must be a %s, got the %s text %r; %s"
                           % (name, kind, "plain" if isinstance(parsed, str) else _type_name(parsed)[2:],
                              text[:200], hint))


def survey_value(value, name, kind):
    try:
        return read_survey_value(value, name, kind)
    except SurveyValueError as exc:
        raise AnsibleFilterError(str(exc))


def survey_input_errors(hosts, hostvars, current, kinds):
    """Messages for every variable in kinds (name: kind) that a node cannot use, one per distinct problem.

    A node's own value (inventory, extra vars) comes from hostvars; one it lacks is the play's value in current
    (role defaults). Run once at the play's start, so that no node is contacted when any node's value is wrong.
    """
    problems = {}
    for host in hosts:
        own = hostvars[host]
        for name in sorted(kinds):
            value = own[name] if name in own else current.get(name)
            try:
                read_survey_value(value, name, kinds[name])
            except SurveyValueError as exc:
                problems.setdefault(str(exc), []).append(str(host))
    return ["%s (%s)" % (message, _node_list(nodes)) for message, nodes in sorted(problems.items())]


def _node_list(nodes, shown=5):
    more = " and %d more" % (len(nodes) - shown) if len(nodes) > shown else ""
    return "node%s: %s%s" % ("s" if len(nodes) > 1 else "", ", ".join(nodes[:shown]), more)


class FilterModule(object):
    def filters(self):
        return {"survey_value": survey_value, "survey_input_errors": survey_input_errors}
