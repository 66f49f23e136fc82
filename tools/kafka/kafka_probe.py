#!/usr/bin/env python3
"""Readiness probe for a local Kafka broker: one real Metadata request.

Speaks the Kafka wire protocol directly (Metadata v8, non-flexible encoding,
supported by Kafka 2.3 up to 4.x) so that it needs nothing but the Python
standard library: no JVM start per probe, no client library to install.

With --cafile the connection is TLS (the broker's certificate and its IP/host
name are verified against that CA); with --sasl-username/--sasl-password the
client authenticates first with SASL SCRAM-SHA-512 or SCRAM-SHA-256
(SaslHandshake v1 + SaslAuthenticate v0, RFC 5802, the server's signature
checked), as a Kafka client on a SASL_SSL listener does.

Usage: kafka_probe.py HOST:PORT [--timeout SECONDS] [--expect-brokers N]
                      [--cafile PEM] [--sasl-mechanism SCRAM-SHA-512]
                      [--sasl-username USER --sasl-password PASS]
       (the password may come from $K2_PROBE_SASL_PASSWORD instead)
Exit 0 and print "brokers=... controller=... cluster_id=..." when the broker
answers with at least N (default 1) registered brokers and a controller id;
exit 1 otherwise (with the reason on stderr); exit 4 when SASL authentication
itself was refused (a wrong user or password: waiting will not help).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import secrets
import socket
import ssl
import struct
import sys

METADATA_API_KEY = 3
METADATA_VERSION = 8
SASL_HANDSHAKE_API_KEY = 17
SASL_HANDSHAKE_VERSION = 1
SASL_AUTHENTICATE_API_KEY = 36
SASL_AUTHENTICATE_VERSION = 0
CLIENT_ID = b"k2-platform-probe"
SCRAM_HASHES = {"SCRAM-SHA-512": hashlib.sha512, "SCRAM-SHA-256": hashlib.sha256}
EXIT_AUTH_FAILED = 4


class AuthenticationFailed(Exception):
    """The broker refused the SASL credentials (or the server's proof did not verify)."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("truncated response")
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

    def bytes_(self) -> bytes | None:
        length = self.take(">i")
        if length < 0:
            return None
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf.extend(chunk)
    return bytes(buf)


def _string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack(">h", len(raw)) + raw


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.correlation_id = 0

    def request(self, api_key: int, version: int, body: bytes) -> _Reader:
        """One request with header v1 (non-flexible); returns a reader past the response header."""
        self.correlation_id += 1
        header = struct.pack(">hhih", api_key, version, self.correlation_id, len(CLIENT_ID)) + CLIENT_ID
        payload = header + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", _recv_exact(self.sock, 4))
        reader = _Reader(_recv_exact(self.sock, size))
        if reader.take(">i") != self.correlation_id:
            raise ValueError("unexpected correlation id")
        return reader


def _scram(conn: _Connection, mechanism: str, username: str, password: str) -> None:
    """SASL SCRAM (RFC 5802) over SaslHandshake v1 + SaslAuthenticate v0."""
    digest = SCRAM_HASHES[mechanism]
    r = conn.request(SASL_HANDSHAKE_API_KEY, SASL_HANDSHAKE_VERSION, _string(mechanism))
    error = r.take(">h")
    enabled = [r.string() for _ in range(r.take(">i"))]
    if error:
        raise AuthenticationFailed(f"broker does not enable {mechanism} (error {error}, enabled: {enabled})")

    def authenticate(message: bytes) -> bytes:
        reply = conn.request(
            SASL_AUTHENTICATE_API_KEY, SASL_AUTHENTICATE_VERSION, struct.pack(">i", len(message)) + message
        )
        code = reply.take(">h")
        text = reply.string()
        data = reply.bytes_() or b""
        if code:
            raise AuthenticationFailed(f"SASL authentication failed (error {code}): {text}")
        return data

    user = username.replace("=", "=3D").replace(",", "=2C")
    nonce = base64.b64encode(secrets.token_bytes(24)).decode()
    client_first_bare = f"n={user},r={nonce}"
    server_first = authenticate(("n,," + client_first_bare).encode()).decode()
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    if not fields.get("r", "").startswith(nonce):
        raise AuthenticationFailed("server nonce does not extend the client nonce")
    salt = base64.b64decode(fields["s"])
    iterations = int(fields["i"])
    salted = hashlib.pbkdf2_hmac(digest().name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    stored_key = digest(client_key).digest()
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, digest).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    server_final = authenticate(f"{without_proof},p={base64.b64encode(proof).decode()}".encode()).decode()
    server_key = hmac.new(salted, b"Server Key", digest).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, digest).digest()).decode()
    if server_final != f"v={expected}":
        raise AuthenticationFailed(f"server signature does not verify: {server_final!r}")


def metadata(
    host: str,
    port: int,
    timeout: float,
    *,
    cafile: str | None = None,
    mechanism: str = "SCRAM-SHA-512",
    username: str | None = None,
    password: str | None = None,
) -> dict:
    with socket.create_connection((host, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        sock: socket.socket = raw
        if cafile:
            context = ssl.create_default_context(cafile=cafile)
            sock = context.wrap_socket(raw, server_hostname=host)
        try:
            conn = _Connection(sock)
            if username is not None:
                _scram(conn, mechanism, username, password or "")
            # topics = null (all topics), allow_auto_topic_creation = false,
            # include_cluster_authorized_operations = false,
            # include_topic_authorized_operations = false
            r = conn.request(METADATA_API_KEY, METADATA_VERSION, struct.pack(">ibbb", -1, 0, 0, 0))
        finally:
            if sock is not raw:
                sock.close()
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
    parser.add_argument("--expect-brokers", type=int, default=1, help="fewer registered brokers: not ready")
    parser.add_argument("--cafile", help="TLS: the CA (PEM) that signed the broker's certificate")
    parser.add_argument("--sasl-mechanism", default="SCRAM-SHA-512", choices=sorted(SCRAM_HASHES))
    parser.add_argument("--sasl-username")
    parser.add_argument("--sasl-password", default=os.environ.get("K2_PROBE_SASL_PASSWORD"))
    args = parser.parse_args()
    host, _, port = args.bootstrap.rpartition(":")
    try:
        md = metadata(
            host or "127.0.0.1",
            int(port),
            args.timeout,
            cafile=args.cafile,
            mechanism=args.sasl_mechanism,
            username=args.sasl_username,
            password=args.sasl_password,
        )
    except AuthenticationFailed as exc:
        print(f"kafka at {args.bootstrap} refused the credentials: {exc}", file=sys.stderr)
        return EXIT_AUTH_FAILED
    except (OSError, ValueError) as exc:
        print(f"kafka not ready at {args.bootstrap}: {exc}", file=sys.stderr)
        return 1
    if len(md["brokers"]) < args.expect_brokers or md["controller_id"] < 0:
        print(f"kafka not ready at {args.bootstrap}: metadata {md}", file=sys.stderr)
        return 1
    brokers = ",".join(f"{n}@{h}:{p}" for n, h, p in sorted(md["brokers"]))
    print(f"brokers={brokers} controller={md['controller_id']} cluster_id={md['cluster_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
