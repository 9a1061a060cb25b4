"""Helpers the suites, tools and benchmarks share (not tests themselves): fleetgen writes offline node roots and
the demo fleet, pin_keeper renders and runs the pin_sysctl role's files, ansiballz reads what Ansible ships to a node,
demo_playbook runs tasks on the demo fleet through ansible-playbook, return_docs walks a module's result against its
RETURN.
Import them as ``from support import fleetgen`` with tests/ on sys.path (tests/unit/conftest.py puts it there)."""
