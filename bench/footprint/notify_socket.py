"""The service manager's end of sd_notify for the footprint benchmark: binds an AF_UNIX datagram
socket (what systemd passes as NOTIFY_SOCKET), prints "bound" once it listens, then one line per
datagram: "<CLOCK_MONOTONIC ns at receipt> <message, newlines as \\n>". File descriptors a sender
passes (systemd-notify's BARRIER=1) are closed at once, which is how PID 1 answers the barrier.

usage: notify_socket.py SOCKET_PATH
"""

import array
import os
import socket
import sys
import time

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
print("bound", flush=True)
fd_space = socket.CMSG_SPACE(16 * array.array("i").itemsize)
while True:
    data, ancillary, _flags, _addr = sock.recvmsg(65536, fd_space)
    at = time.monotonic_ns()
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    text = data.decode("utf-8", "replace").replace("\n", "\\n")
    print(at, text, flush=True)
