"""Error rendering and free-port helpers."""

from __future__ import annotations

import socket

from harness.errors import DrillError
from harness.scratch.ports import distinct_free_ports, free_port, free_port_pair


def test_error_names_store_path_and_remedy() -> None:
    err = DrillError("dump is truncated", store="postgres", path="/b/auth.dump",
                     remedy="re-run the backup", detail="line 1\nline 2")
    text = str(err)
    assert text.startswith("[postgres] dump is truncated")
    assert "/b/auth.dump" in text and "re-run the backup" in text and "    line 2" in text
    err.detail = "changed"
    assert "changed" in str(err)


def test_free_ports_are_bindable_and_distinct() -> None:
    ports = distinct_free_ports(9)
    assert len(set(ports)) == 9
    p = free_port_pair()
    for port in (free_port(), p, p + 10000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
