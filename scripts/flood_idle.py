#!/usr/bin/env python3
"""Opens many idle TCP connections to one loopback port, spread over
several processes and source addresses (a process may hold at most 20,000
descriptors on the machines this runs on), holds them until told, then
closes them all at once. Used by scripts/bench-wedge.sh.

    flood_idle.py PORT TOTAL PROCESSES

Prints one line per process once it has made its attempts:
`held N refused M` (a refused attempt is one that failed to connect, or
that the server accepted and answered with its refusal or closed), then waits for a line on standard input
before closing everything and printing `closed`.
"""

import os
import resource
import socket
import sys


def hold(port: int, count: int, source: str, report_fd: int, release_fd: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held, refused = [], 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((source, 0))
            s.settimeout(2.0)
            s.connect(("127.0.0.1", port))
            held.append(s)
        except OSError:
            refused += 1
            s.close()
    # A refused connection has its refusal to read, or is closed; an idle
    # one the server kept has nothing to read.
    still = []
    for s in held:
        s.setblocking(False)
        try:
            s.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            still.append(s)
            continue
        except OSError:
            pass
        refused += 1
        s.close()
    os.write(report_fd, f"held {len(still)} refused {refused}\n".encode())
    os.read(release_fd, 1)
    for s in still:
        s.close()


def main() -> None:
    port, total, procs = (int(a) for a in sys.argv[1:4])
    per = total // procs
    children = []
    report_r, report_w = os.pipe()
    release_r, release_w = os.pipe()
    for i in range(procs):
        pid = os.fork()
        if pid == 0:
            os.close(report_r)
            os.close(release_w)
            hold(port, per, f"127.0.1.{i + 1}", report_w, release_r)
            os._exit(0)
        children.append(pid)
    os.close(report_w)
    os.close(release_r)
    reader = os.fdopen(report_r)
    for _ in range(procs):
        print(reader.readline().strip(), flush=True)
    sys.stdin.readline()
    os.write(release_w, b"x" * procs)
    for pid in children:
        os.waitpid(pid, 0)
    print("closed", flush=True)


if __name__ == "__main__":
    main()
