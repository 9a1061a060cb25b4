"""Make this checkout importable as ansible_collections.kubenode.ipvs_reuse, and tests/ helpers importable."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, ".cache", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "kubenode", "ipvs_reuse")
if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink("../../../..", LINK)
for path in (COLLECTIONS, os.path.join(REPO, "tests"), HERE):
    if path not in sys.path:
        sys.path.insert(0, path)
