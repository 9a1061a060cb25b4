"""Run tasks on the demo fleet (demo/inventory.yml) through ansible-playbook, connection local, with this Python
as every node's interpreter: how the unit tests exercise a module as the assess role runs it, without a node."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_INVENTORY = os.path.join(REPO, "demo", "inventory.yml")


def run_playbook(tmp_path, tasks, inventory=DEMO_INVENTORY, extra_env=None, limit=None):
    """Run tasks (a list of task dicts) on the inventory, connection local; {task name: {host: result}}."""
    playbook = tmp_path / "play.yml"
    # the interpreter as a play variable, so that a task's own vars can replace it
    playbook.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks,
                                     "vars": {"ansible_python_interpreter": sys.executable}}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOCALHOST_WARNING="false", **(extra_env or {}))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), str(playbook),
               "-e", "ansible_connection=local"]
    if limit:
        command += ["--limit", limit]
    run = subprocess.run(command, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, check=False)
    try:
        plays = json.loads(run.stdout)["plays"]
    except ValueError:
        raise AssertionError(run.stdout[-3000:] + run.stderr[-3000:])
    return dict((task["task"]["name"], task["hosts"]) for task in plays[0]["tasks"])
