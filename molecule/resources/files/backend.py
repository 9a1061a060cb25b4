"""HTTP/1.0 backend for the kube-proxy stand-in: answers every request with its own name.

Runs inside a network namespace (one per backend). It closes each connection right after
the response, so the server side closes first and the client may reuse its port at once,
as short-lived HTTP/1.0 clients behind a Kubernetes service do.
"""
import socket
import sys


def main():
    name, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    body = ("%s\n" % name).encode()
    response = (
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % len(body)
    ) + body
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(128)
    while True:
        conn, _peer = server.accept()
        try:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            conn.sendall(response)
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    main()
