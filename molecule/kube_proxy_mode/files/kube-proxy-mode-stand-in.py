"""TEST STAND-IN for kube-proxy's mode and its /proxyMode endpoint. It is NOT kube-proxy.

No kube-proxy can be installed on the test bed. Two parts:

  serve   answers GET /proxyMode on 127.0.0.1:10249 like kube-proxy's metrics server. The answer
          comes from MODE_FILE when it exists (written by "start", i.e. a kube-proxy run as a systemd
          service, k3s or RKE2), otherwise from the Kubernetes API TEST DOUBLE on the host
          (DOUBLE_URL/_double/nodes/NODE/proxyMode: the mode of the kube-proxy pod the double
          "runs" on this node, which is the ConfigMap's mode when the pod was (re)started).
  start   what a kube-proxy start does with its mode: reads it the way kube-proxy (or k3s/RKE2)
          would, from --proxy-mode, from the mode: line of the --config file, or from
          kube-proxy-arg proxy-mode= in --rancher-config, and writes it to MODE_FILE.
Settings (environment, /etc/default/kube-proxy-mode-stand-in): DOUBLE_URL, NODE, MODE_FILE, PORT (10249).
"""
import os
import re
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

MODE_FILE = os.environ.get("MODE_FILE", "/run/kube-proxy-stand-in/mode")


def current_mode():
    if os.path.exists(MODE_FILE):
        with open(MODE_FILE) as handle:
            return handle.read().strip()
    url = os.environ.get("DOUBLE_URL")
    if not url:
        return None
    with urllib.request.urlopen("%s/_double/nodes/%s/proxyMode" % (url, os.environ["NODE"]), timeout=5) as resp:
        return resp.read().decode().strip()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/proxyMode":
            self.send_error(404)
            return
        try:
            mode = current_mode()
        except Exception as exc:  # the double is down: answer like a kube-proxy that is not ready
            self.send_error(503, str(exc))
            return
        if mode is None:
            self.send_error(503, "no mode known")
            return
        body = mode.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def start(args):
    mode = None
    for arg in args:
        if arg.startswith("--config="):
            with open(arg.split("=", 1)[1]) as handle:
                match = re.search(r"^mode:[ \t]*[\"']?(\w*)", handle.read(), re.M)
            mode = (match.group(1) if match else "") or "iptables"
        elif arg.startswith("--rancher-config="):
            with open(arg.split("=", 1)[1]) as handle:
                match = re.search(r"proxy-mode=(\w+)", handle.read())
            mode = match.group(1) if match else "iptables"
    for arg in args:  # a flag wins over the config file in this stand-in
        if arg.startswith("--proxy-mode="):
            mode = arg.split("=", 1)[1].strip("\"'")
    os.makedirs(os.path.dirname(MODE_FILE), exist_ok=True)
    with open(MODE_FILE, "w") as handle:
        handle.write((mode or "iptables") + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "10249"))), Handler).serve_forever()
    elif sys.argv[1:2] == ["start"]:
        start(sys.argv[2:])
    else:
        sys.exit("usage: kube-proxy-mode-stand-in serve | start [--proxy-mode=M] [--config=F] [--rancher-config=F]")
