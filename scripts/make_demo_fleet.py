"""(Re)write demo/ (offline node roots and inventory) from tests/support/fleetgen.py's DEMO_FLEET."""
import os
import shutil
import sys

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(repo, "tests"))
from support import fleetgen  # noqa: E402

target = os.path.join(repo, "demo")
shutil.rmtree(os.path.join(target, "nodes"), ignore_errors=True)
fleetgen.write_demo_fleet(target)
print("wrote %s" % target)
