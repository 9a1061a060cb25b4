"""What Ansible ships to a node: the module_utils inside the AnsiballZ payloads a run left behind
(ANSIBLE_KEEP_REMOTE_FILES=1 with ANSIBLE_REMOTE_TMP pointing at a test directory)."""
import base64
import glob
import io
import os
import re
import zipfile


def kept_payload_files(remote_tmp):
    """{AnsiballZ script: names in its embedded zip} for the module runs Ansible left in remote_tmp."""
    payloads = {}
    for script in glob.glob(os.path.join(str(remote_tmp), "ansible-tmp-*", "AnsiballZ_*.py")):
        with open(script) as handle:
            encoded = re.search(r"zip_data='([^']*)'", handle.read()).group(1)
        payloads[script] = zipfile.ZipFile(io.BytesIO(base64.b64decode(encoded))).namelist()
    return payloads
