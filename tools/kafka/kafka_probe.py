#!/usr/bin/env python3
"""Readiness probe for the local Kafka broker: one real Metadata request.

Speaks the Kafka wire protocol directly (Metadata v8, non-flexible encoding,
supported by Kafka 2.3 up to 4.x) so that it needs nothing but the Python
standard library: no JVM start per probe, no client library to install.

Usage: kafka_probe.py HOST:PORT [--timeout SECONDS]
Exit 0 and print "brokers=... controller=... cluster_id=..." when the broker
answers with at least one registered broker and an active controller;
exit 1 otherwise (with the reason on stderr).
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

METADATA_API_KEY = 3
METADATA_VERSION = 8
CLIENT_ID = b"k2-platform-probe"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("truncated Metadata response")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf.extend(chunk)
    return bytes(buf)


def metadata(host: str, port: int, timeout: float) -> dict:
    correlation_id = 1
    header = struct.pack(">hhih", METADATA_API_KEY, METADATA_VERSION, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    # topics = null (all topics), allow_auto_topic_creation = false,
    # include_cluster_authorized_operations = false,
    # include_topic_authorized_operations = false
    body = struct.pack(">ibbb", -1, 0, 0, 0)
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        payload = _recv_exact(sock, size)
    r = _Reader(payload)
    if r.take(">i") != correlation_id:
        raise ValueError("unexpected correlation id")
    r.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(r.take(">i")):
        node_id = r.take(">i")
        b_host = r.string()
        b_port = r.take(">i")
        r.string()  # rack
        brokers.append((node_id, b_host, b_port))
    cluster_id = r.string()
    controller_id = r.take(">i")
    return {"brokers": brokers, "cluster_id": cluster_id, "controller_id": controller_id}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap", help="HOST:PORT")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    host, _, port = args.bootstrap.rpartition(":")
    try:
        md = metadata(host or "127.0.0.1", int(port), args.timeout)
    except (OSError, ValueError) as exc:
        print(f"kafka not ready at {args.bootstrap}: {exc}", file=sys.stderr)
        return 1
    if not md["brokers"] or md["controller_id"] < 0:
        print(f"kafka not ready at {args.bootstrap}: metadata {md}", file=sys.stderr)
        return 1
    brokers = ",".join(f"{n}@{h}:{p}" for n, h, p in md["brokers"])
    print(f"brokers={brokers} controller={md['controller_id']} cluster_id={md['cluster_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
