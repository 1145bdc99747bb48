"""The minimal DNS client dns-01 needs: one TXT query over UDP (TCP on truncation).

Only what RFC 1035 requires to read TXT answers; CNAMEs are followed by the
resolver we ask (we send RD=1). The server is the test override or the first
``nameserver`` of ``/etc/resolv.conf``.
"""

from __future__ import annotations

import secrets
import socket
import struct
from pathlib import Path

TXT = 16
CLASS_IN = 1


class DnsError(Exception):
    """The lookup failed (timeout, server failure, malformed answer)."""


def system_nameserver() -> tuple[str, int]:
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1], 53
    except OSError:
        pass
    return "127.0.0.1", 53


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            raise DnsError(f"bad DNS name {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def build_query(name: str, qid: int) -> bytes:
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    return header + _encode_name(name) + struct.pack(">HH", TXT, CLASS_IN)


def _skip_name(msg: bytes, pos: int) -> int:
    while True:
        if pos >= len(msg):
            raise DnsError("truncated name")
        n = msg[pos]
        if n == 0:
            return pos + 1
        if n & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + n


def parse_txt_answer(msg: bytes, qid: int) -> list[str]:
    if len(msg) < 12:
        raise DnsError("short DNS answer")
    rid, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid:
        raise DnsError("DNS answer id mismatch")
    rcode = flags & 0x0F
    if rcode == 3:
        return []
    if rcode != 0:
        raise DnsError(f"DNS server answered rcode {rcode}")
    pos = 12
    for _ in range(qd):
        pos = _skip_name(msg, pos) + 4
    records: list[str] = []
    for _ in range(an):
        pos = _skip_name(msg, pos)
        if pos + 10 > len(msg):
            raise DnsError("truncated DNS record")
        rtype, _rclass, _ttl, rdlen = struct.unpack(">HHIH", msg[pos : pos + 10])
        pos += 10
        rdata = msg[pos : pos + rdlen]
        pos += rdlen
        if rtype != TXT:
            continue
        parts: list[bytes] = []
        i = 0
        while i < len(rdata):
            n = rdata[i]
            parts.append(rdata[i + 1 : i + 1 + n])
            i += 1 + n
        records.append(b"".join(parts).decode("utf-8", "replace"))
    return records


def lookup_txt(name: str, server: tuple[str, int], timeout: float) -> list[str]:
    qid = secrets.randbelow(65536)
    query = build_query(name, qid)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(query, server)
            msg, _ = s.recvfrom(4096)
        except OSError as ex:
            raise DnsError(f"DNS query for {name} failed: {ex}") from ex
    if len(msg) > 2 and msg[2] & 0x02:  # TC: retry over TCP
        with socket.create_connection(server, timeout=timeout) as t:
            t.sendall(struct.pack(">H", len(query)) + query)
            head = t.recv(2)
            (length,) = struct.unpack(">H", head)
            msg = b""
            while len(msg) < length:
                chunk = t.recv(length - len(msg))
                if not chunk:
                    break
                msg += chunk
    return parse_txt_answer(msg, qid)
