#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kubenode.ipvs_reuse contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_report_files
short_description: Write the fleet report's JSON, Markdown and HTML files on the controller
version_added: 1.0.0
description:
  - Renders a report built by P(kubenode.ipvs_reuse.fleet_report#filter) as C(fleet.json), C(summary.md)
    (P(kubenode.ipvs_reuse.fleet_markdown#filter)) and C(fleet.html) (P(kubenode.ipvs_reuse.fleet_html#filter)) and
    writes them into O(dest) on the controller, creating the directory when it is missing.
  - The three files of one run are published as one set. They are written into a new directory
    C(runs/set-<random>) under O(dest), then the symlink C(current) is switched to it with one rename, and
    C(fleet.json), C(summary.md) and C(fleet.html) in O(dest) are symlinks through C(current).
    A reader that resolves C(current) once and reads the three files from there never mixes two runs.
    A run killed before the switch leaves the previous set intact (its unfinished directory is removed by the next run).
  - The set before the current one is kept, so a reader that resolved C(current) just before a switch can finish;
    older sets are removed.
  - Nothing is written when all three files already have the wanted content.
  - When the published set differs from the wanted one only in the time of the assessment and the run's identity
    (C(generated_at) and C(run) in the report), the new set is published, so the files say when the fleet was last
    assessed, but the result is C(changed=false, refreshed=true), so an unchanged fleet reports no change. Check mode
    writes nothing.
  - This is an action plugin that runs on the controller only. It replaces a directory task and three
    M(ansible.builtin.copy) tasks, each of which starts a module process on the controller.
author:
  - kubenode.ipvs_reuse contributors (@kubenode)
options:
  report:
    description: The report (the output of P(kubenode.ipvs_reuse.fleet_report#filter)).
    type: dict
    required: true
  dest:
    description: Directory on the controller for the three files.
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller only (where Ansible runs, which is POSIX).
notes:
  - Runs on the controller only (an action plugin; no module process is started).
  - Files are written with mode C(0644), directories with C(0755).
  - A directory written by version 1.0.0 (three plain files) is converted to this layout on the first run.
"""

EXAMPLES = r"""
- name: Write the fleet report
  kubenode.ipvs_reuse.fleet_report_files:
    report: "{{ hostvars | kubenode.ipvs_reuse.fleet_report(ansible_play_hosts_all) }}"
    dest: ./ipvs-reuse-report
  run_once: true
"""

RETURN = r"""
dest:
  description: The directory the files are in.
  returned: always
  type: str
files:
  description: The paths of the three files.
  returned: always
  type: list
  elements: str
changed_files:
  description: The files that were (in check mode, would be) written because their content changed beyond the
    time of the assessment and the run's identity.
  returned: always
  type: list
  elements: str
refreshed:
  description: True when the files were (in check mode, would be) rewritten only for a new time of assessment or run
    identity; such a rewrite is not a change.
  returned: always
  type: bool
"""
