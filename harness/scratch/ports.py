"""Free TCP ports on 127.0.0.1."""

from __future__ import annotations

import socket


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair(offset: int = 10000, attempts: int = 200) -> int:
    """Return a port ``p`` such that ``p`` and ``p + offset`` are both free.

    SeaweedFS derives each gRPC port as HTTP port + 10000 unless told otherwise; we set the
    gRPC ports explicitly, but still keep the pair free to stay out of the way of defaults.
    """
    for _ in range(attempts):
        p = free_port()
        if p + offset < 65536 and _is_free(p + offset):
            return p
    raise OSError("no free port pair found on 127.0.0.1")


def distinct_free_ports(n: int) -> list[int]:
    """Return ``n`` different free ports (held open together so the kernel cannot repeat one)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()
