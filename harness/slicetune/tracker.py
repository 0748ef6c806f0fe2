"""Ask a TVM RPC tracker what it holds, without importing TVM (the parent never loads it).

TVM's tracker protocol (tvm/rpc/base.py, client.py): the client sends the tracker magic as a
little-endian int32 and gets it back; then each message is a length-prefixed JSON list.
"""

from __future__ import annotations

import json
import socket
import struct

TRACKER_MAGIC = 0x2F271
SUCCESS, SUMMARY = 0, 6


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the RPC tracker closed the connection")
        buf += chunk
    return buf


def summary(host: str, port: int, timeout_s: float = 5.0) -> dict:
    """The tracker's summary: {"queue_info": {key: {"free": n, "pending": m}}, "server_info": [...]}."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack("<i", TRACKER_MAGIC))
        if struct.unpack("<i", _recv(sock, 4))[0] != TRACKER_MAGIC:
            raise ConnectionError(f"{host}:{port} is not a TVM RPC tracker")
        msg = json.dumps([SUMMARY]).encode()
        sock.sendall(struct.pack("<i", len(msg)) + msg)
        size = struct.unpack("<i", _recv(sock, 4))[0]
        code, value = json.loads(_recv(sock, size).decode())
    if code != SUCCESS:
        raise ConnectionError(f"the RPC tracker answered {code} to a summary request")
    return value
