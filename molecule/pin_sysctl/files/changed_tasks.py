# Run as: python3 changed_tasks.py ansible-playbook ARGS...
"""Run ansible-playbook with the JSON callback; print what changed, as JSON.

    changed_tasks.py ansible-playbook ARGS...

Prints {"rc": N, "changed": ["HOST: TASK NAME", ...], "failed": [...], "stats": {...}} so that a test can compare the
tasks a --check run reports as changed with those a real run then changes.
"""
import json
import os
import subprocess
import sys


def main():
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    # Only the JSON callback may write to stdout: callbacks enabled from outside (profile_tasks) would add text.
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run(sys.argv[1:], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    try:
        data = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        print(json.dumps({"rc": proc.returncode, "error": "no JSON output", "stdout": proc.stdout[-3000:],
                          "stderr": proc.stderr[-3000:]}))
        return
    changed, failed = [], []
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                label = "%s: %s" % (host, task["task"]["name"])
                if result.get("changed"):
                    changed.append(label)
                if result.get("failed"):
                    failed.append("%s: %s" % (label, result.get("msg", "")))
    print(json.dumps({"rc": proc.returncode, "changed": changed, "failed": failed, "stats": data.get("stats", {}),
                      "stderr": proc.stderr[-2000:]}))


if __name__ == "__main__":
    main()
