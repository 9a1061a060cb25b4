"""Measure IPVS behaviour on client port reuse, from inside the guest's client namespace.

Run as:  ip netns exec client python3 reuse_probe.py --sport PORT [--count N]
(runs on the guest: stdlib only, Python 3.9+). Prints one JSON object.

Two measurements, each on its own fixed client source port, each starting with one seed
connection that creates the IPVS connection entry the later connections reuse:

reuse   (port PORT)   N more connections from the same client ip:port to the service, all
                      backends at weight 1. Records each connect() time: problem 2 shows up
                      as ~1000 ms connects (IPVS dropped the first SYN, the client retransmits).
drain   (port PORT+1) the backend that served the seed is drained to weight 0 (as kube-proxy
                      does for a terminating pod; done in the root namespace with nsenter),
                      then N more connections from the same ip:port. Records which backend
                      answered each: problem 1 shows up as new connections still reaching
                      the drained backend. The weight is restored afterwards.

Connections are HTTP/1.0; the backend closes first, so the client's port is free at once
and IPVS holds the old entry in TIME_WAIT, as with short-lived clients on real nodes.
"""
import argparse
import json
import socket
import statistics
import subprocess
import time

SERVICE = ("10.96.0.10", 80)


def connect_once(sport, timeout):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.settimeout(timeout)
    sock.bind(("", sport))
    started = time.monotonic()
    try:
        sock.connect(SERVICE)
        connect_ms = (time.monotonic() - started) * 1000.0
        sock.sendall(b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        return {"connect_ms": (time.monotonic() - started) * 1000.0, "backend": None, "error": str(exc)}
    finally:
        sock.close()
    backend = data.split(b"\r\n\r\n", 1)[-1].strip().decode() or None
    return {"connect_ms": round(connect_ms, 1), "backend": backend}


def series(sport, count, pause, timeout):
    results = []
    for _attempt in range(count):
        time.sleep(pause)
        results.append(connect_once(sport, timeout))
    return results


def summary(results):
    times = [r["connect_ms"] for r in results]
    return {
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "slow": sum(1 for t in times if t >= 500.0),
        "errors": sum(1 for r in results if r.get("error")),
    }


def set_weight(backend, weight):
    subprocess.run(["nsenter", "--net=/proc/1/ns/net", "kube-proxy-stand-in", "weight", backend, str(weight)],
                   check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sport", type=int, required=True)
    parser.add_argument("--count", type=int, default=7)
    parser.add_argument("--pause", type=float, default=0.3)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()

    seed = connect_once(args.sport, args.timeout)
    reuse = series(args.sport, args.count, args.pause, args.timeout)

    drain_seed = connect_once(args.sport + 1, args.timeout)
    drained = drain_seed["backend"]
    if drained is None:
        raise SystemExit("seed connection of the drain measurement failed: %s" % drain_seed)
    set_weight(drained, 0)
    try:
        drain = series(args.sport + 1, args.count, args.pause, args.timeout)
    finally:
        set_weight(drained, 1)

    print(json.dumps({
        "count": args.count,
        "reuse": {"seed": seed, "connections": reuse, **summary(reuse)},
        "drain": {
            "seed": drain_seed,
            "drained_backend": drained,
            "connections": drain,
            "hits_on_drained": sum(1 for r in drain if r["backend"] == drained),
            **summary(drain),
        },
    }))


if __name__ == "__main__":
    main()
