"""Rendezvous ports on loopback: picked by the OS, never a fixed number.

The ports are bound with port 0 (the OS picks free ones), read and released, then passed to
the replicas, which bind them again. Another program may take one in between (TensorFlow's
servers bind their own ports, tensorflow/tensorflow#35383), so a start that fails on a taken
port is retried with new ones (group.py).
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"
_IN_USE = ("address already in use", "eaddrinuse", "errno 98", "could not start grpc server",
           "failed to bind", "address in use")


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports the OS says are free on `host` now."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_taken(message: str) -> bool:
    """Whether an error message says a port was already taken."""
    text = message.lower()
    return any(k in text for k in _IN_USE)
