"""Stand-in for the get-pip.py script that ansible-test downloads from a host these machines cannot reach.

ansible-test runs it as `python get_pip.py [pip options] packages...` inside a fresh virtual environment.
We bootstrap pip with the interpreter's own ensurepip, then install the requested packages from PyPI.
scripts/test copies this file to ~/.ansible/test/cache/get_pip_<version>.py.
"""
import subprocess
import sys

UNSUPPORTED = {"--no-setuptools", "--no-wheel"}

arguments = [argument for argument in sys.argv[1:] if argument not in UNSUPPORTED]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
if arguments:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + arguments)
