"""Relay stdin/stdout to a TCP address; used as an OpenSSH/paramiko ProxyCommand.

The lab's subnet exists only inside the controller namespace. A pyinfra or ssh started outside
it reaches the hosts through ``ip netns exec gpuws-ctl python ssh_proxy.py HOST PORT`` (written
into the lab's ssh config). ``--wait ADDR:PORT...`` instead waits until each address accepts TCP.
Runs as a plain script (no package imports): it is started by path.
"""

import os
import selectors
import socket
import sys
import time


def relay(host: str, port: int) -> None:
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "in")
    selector.register(sock, selectors.EVENT_READ, "sock")
    while True:
        for key, _ in selector.select():
            if key.data == "in":
                data = os.read(sys.stdin.fileno(), 65536)
                if not data:
                    sock.shutdown(socket.SHUT_WR)
                    selector.unregister(sys.stdin.fileno())
                    continue
                sock.sendall(data)
            else:
                data = sock.recv(65536)
                if not data:
                    # The host went away (e.g. a reboot). Stay alive until our reader lets go:
                    # paramiko's ProxyCommand.close() kills this process and fails if it is gone.
                    os.close(sys.stdout.fileno())
                    while os.read(sys.stdin.fileno(), 65536):
                        pass
                    return
                os.write(sys.stdout.fileno(), data)


def wait(addresses: list[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    pending = list(addresses)
    while pending:
        address = pending[0]
        host, port = address.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=1) as sock:
                # sshd answers with its banner once it is really serving
                sock.settimeout(2)
                if sock.recv(4).startswith(b"SSH-"):
                    pending.pop(0)
                    continue
        except OSError:
            pass
        if time.monotonic() > deadline:
            print(f"not answering after {timeout:.0f}s: {' '.join(pending)}", file=sys.stderr)
            return 1
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--wait"]:
        sys.exit(wait(sys.argv[3:], float(sys.argv[2])))
    try:
        relay(sys.argv[1], int(sys.argv[2]))
    except OSError as error:
        print(f"gpuws lab ssh proxy: {sys.argv[1]}:{sys.argv[2]}: {error.strerror or error}", file=sys.stderr)
        sys.exit(1)
