"""Start a command, kill it (SIGKILL, its whole process group) as soon as a line of its output contains a text.

    interrupt.py TEXT COMMAND ARGS...

Stands in for an operator's Ctrl-C, a lost controller or an AWX job cancelled mid-way: the kill comes at a known step
(the task banner TEXT) instead of a random one. Prints {"killed": bool, "rc": N, "tail": [last lines]} as JSON;
"killed" is false when the command ended before TEXT appeared.
"""
import json
import os
import signal
import subprocess
import sys


def main():
    text, command = sys.argv[1], sys.argv[2:]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, start_new_session=True)
    tail, killed = [], False
    for line in proc.stdout:
        tail = (tail + [line.rstrip("\n")])[-15:]
        if text in line:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
    proc.stdout.close()
    rc = proc.wait()
    print(json.dumps({"killed": killed, "rc": rc, "tail": tail}))


if __name__ == "__main__":
    main()
