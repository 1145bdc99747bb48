"""Bounded resources: request bodies are refused while they are read, not after.

Memory is a resource bound, measured as the RSS of the service process from
``/proc`` while a 400 MB chunked body is sent."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.online.conftest import Server

LIMIT_MB = 300
BODY_MB = 400
CHUNK = b"x" * (1 << 20)


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (workers), in MB, from /proc."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _send_huge(server: Server, path: str, headers: dict[str, str]) -> tuple[str, float, int]:
    """Send ``BODY_MB`` of chunked body to ``path``; return the status line the service
    answered, the peak RSS seen meanwhile and how many MB were sent before it stopped."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head += ["Transfer-Encoding: chunked", "", ""]
    sock.sendall("\r\n".join(head).encode())
    sent = {"mb": 0}
    peak = {"mb": _rss_mb(server.proc.pid)}
    done = threading.Event()

    def sender() -> None:
        frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        try:
            for _ in range(BODY_MB):
                sock.sendall(frame)
                sent["mb"] += 1
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the service closed the connection after refusing: what we want
        finally:
            done.set()

    def sampler() -> None:
        while not done.is_set():
            peak["mb"] = max(peak["mb"], _rss_mb(server.proc.pid))
            time.sleep(0.02)

    threads = [threading.Thread(target=sender), threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    reply = b""
    try:
        while b"\r\n" not in reply:
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    except OSError:
        pass
    finally:
        done.wait(120)
        sock.close()
        for t in threads:
            t.join(60)
    return reply.split(b"\r\n", 1)[0].decode(errors="replace"), peak["mb"], sent["mb"]


@pytest.mark.parametrize(
    ("path", "content_type", "needs_token"),
    [
        ("/acme/new-order", "application/jose+json", False),
        ("/api/v1/certificates", "application/json", True),
    ],
)
def test_huge_body_refused_with_bounded_memory(
    server_factory: Any, path: str, content_type: str, needs_token: bool
) -> None:
    srv = server_factory()
    headers = {"Content-Type": content_type}
    if needs_token:
        headers["Authorization"] = f"Bearer {srv.token('tls-server')}"
    status, peak, sent = _send_huge(srv, path, headers)
    print(f"{path}: peak RSS {peak:.0f} MB, {sent} MB sent before the service closed")
    assert status.startswith("HTTP/1.1 413"), status
    assert peak < LIMIT_MB, f"service RSS reached {peak:.0f} MB (limit {LIMIT_MB} MB)"
    assert sent < BODY_MB, "the service read the whole body before refusing it"
    assert srv.proc.poll() is None


def test_declared_length_over_the_limit_refused_unread(server_factory: Any) -> None:
    srv = server_factory()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    try:
        sock.sendall(
            b"POST /acme/new-account HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/jose+json\r\nContent-Length: 400000000\r\n\r\n"
        )
        reply = sock.recv(65536)
    finally:
        sock.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"application/problem+json" in reply
