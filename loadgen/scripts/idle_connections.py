#!/usr/bin/env python3
"""Holds N idle TCP connections to a router (loopback only) and prints the
router's memory before, with them open, and after they close.

usage: idle_connections.py HOST:PORT ROUTER_PID [N] [HOLD_SECONDS]

The router must allow them: timeouts.handshake_ms above HOLD_SECONDS and
limits.max_connections >= N. Needs `ulimit -n` above N.
"""
import ipaddress
import socket
import sys
import time


def rss_kb(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("refusing a non-loopback target")
    pid = int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    before, _ = rss_kb(pid)
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)))
        socks.append(s)
    time.sleep(hold)
    during, peak = rss_kb(pid)
    for s in socks:
        s.close()
    time.sleep(2)
    after, _ = rss_kb(pid)
    per = (during - before) * 1024 / n
    print(f"connections {n}: VmRSS before {before} kB, with them open {during} kB "
          f"({per:.0f} bytes each), after closing {after} kB, VmHWM {peak} kB")


if __name__ == "__main__":
    main()
