"""Fixtures for the Schema Registry provider tests: an in-process fake registry.

``FakeRegistry`` is a small, thread-safe fake of the Confluent Schema Registry
REST API (the subset Karapace, Redpanda and Apicurio's ccompat API share),
served by ``http.server`` on 127.0.0.1 in a background thread, so the tests
exercise the real HTTP client (requests, timeouts, retries) end to end.  It
records every request, can require basic or bearer auth, can inject faults
(status codes, delays) and can mimic registry quirks (409 for a duplicate,
no subject config before the first version, no ``verbose``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from k2infra.model.avro_canonical import COMPATIBILITY_LEVELS

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

LEVELS = frozenset(COMPATIBILITY_LEVELS)


@dataclass
class Fault:
    method: str
    path_contains: str
    status: int = 503
    body: Any = None
    delay: float = 0.0
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


class FakeRegistry:
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.subjects: dict[str, list[dict[str, Any]]] = {}
        self.ids: dict[tuple[str, str], int] = {}
        self.next_id = 1
        self.subject_config: dict[str, str] = {}
        self.global_config = "BACKWARD"
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.auth: tuple[str, ...] | None = None  # ("basic", user, pw) | ("bearer", token)
        self.forbidden = False
        self.duplicate_409 = False  # answer 409 to a schema the subject already holds
        self.config_requires_subject = False  # Apicurio: no config before the subject exists
        self.verbose_unsupported = False  # 400 on ?verbose=true
        self.echo_auth_in_errors = False  # a careless registry echoing the credential
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # ----------------------------------------------------------------- helpers

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def fail(self, method: str, path_contains: str, status: int = 503, **kw: Any) -> None:
        self.faults.append(Fault(method, path_contains, status, **kw))

    def calls(self, method: str | None = None, contains: str = "") -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def live_versions(self, subject: str) -> list[int]:
        return [v["version"] for v in self.subjects.get(subject, []) if not v["deleted"]]

    def seed(self, subject: str, schema: str, level: str | None = None, schema_type: str = "AVRO") -> dict[str, Any]:
        """Register directly (out of band), bypassing HTTP and compatibility."""
        with self.lock:
            entry = self._add_version(subject, schema, schema_type)
            if level:
                self.subject_config[subject] = level
            return entry

    # --------------------------------------------------------------- registry

    def _schema_id(self, schema_type: str, schema: str) -> int:
        key = (schema_type, _canon(schema))
        if key not in self.ids:
            self.ids[key] = self.next_id
            self.next_id += 1
        return self.ids[key]

    def _add_version(self, subject: str, schema: str, schema_type: str) -> dict[str, Any]:
        versions = self.subjects.setdefault(subject, [])
        entry = {
            "subject": subject,
            "version": (max(v["version"] for v in versions) + 1) if versions else 1,
            "id": self._schema_id(schema_type, schema),
            "schema": schema,
            "schemaType": schema_type,
            "deleted": False,
        }
        versions.append(entry)
        return entry

    def _live(self, subject: str) -> list[dict[str, Any]]:
        return [v for v in self.subjects.get(subject, []) if not v["deleted"]]

    def _level(self, subject: str) -> str:
        return self.subject_config.get(subject, self.global_config)

    def _compat_messages(self, subject: str, schema: str) -> list[str]:
        live = self._live(subject)
        if not live:
            return []
        level = self._level(subject)
        if level == "NONE":
            return []
        against = live if level.endswith("_TRANSITIVE") else live[-1:]
        messages: list[str] = []
        new = json.loads(schema)
        for old_entry in against:
            old = json.loads(old_entry["schema"])
            if level.startswith(("BACKWARD", "FULL")):
                messages += _reader_problems(reader=new, writer=old, version=old_entry["version"])
            if level.startswith(("FORWARD", "FULL")):
                messages += _reader_problems(reader=old, writer=new, version=old_entry["version"])
        return messages

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, Any, dict]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = body.decode(errors="replace")
        with self.lock:
            self.requests.append(Seen(method, parts.path, query, payload, headers.get("Authorization")))
            fault = next(
                (f for f in self.faults if f.method == method and f.path_contains in parts.path),
                None,
            )
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        if fault is not None:
            if fault.delay:
                self.stop.wait(fault.delay)
            if fault.status:
                return fault.status, fault.body, fault.headers
        if self.auth is not None:
            expected = (
                "Basic " + base64.b64encode(f"{self.auth[1]}:{self.auth[2]}".encode()).decode()
                if self.auth[0] == "basic"
                else f"Bearer {self.auth[1]}"
            )
            got = headers.get("Authorization")
            if got != expected:
                message = "Unauthorized"
                if self.echo_auth_in_errors:
                    message += f": bad header {got}"
                return 401, {"error_code": 40101, "message": message}, {}
        if self.forbidden:
            return 403, {"error_code": 40301, "message": "User is denied operation"}, {}
        if not parts.path.startswith(self.prefix):
            return 404, "<html><body>Not Found</body></html>", {"Content-Type": "text/html"}
        path = parts.path[len(self.prefix) :]
        with self.lock:
            return self._route(method, path, query, payload)

    def _route(self, method: str, path: str, query: dict[str, str], payload: Any):
        seg = [unquote(s) for s in path.strip("/").split("/")]
        not_found_subject = (404, {"error_code": 40401, "message": f"Subject '{seg[-1]}' not found."}, {})
        if seg[0] == "config":
            if len(seg) == 1:
                if method == "GET":
                    return 200, {"compatibilityLevel": self.global_config}, {}
            else:
                subject = seg[1]
                if method == "PUT":
                    level = (payload or {}).get("compatibility")
                    if level not in LEVELS:
                        return 422, {"error_code": 42203, "message": f"Invalid compatibility level {level}"}, {}
                    if self.config_requires_subject and not self._live(subject):
                        return 404, {"error_code": 40401, "message": f"No artifact with ID '{subject}' was found."}, {}
                    self.subject_config[subject] = level
                    return 200, {"compatibility": level}, {}
                if method == "GET":
                    if subject in self.subject_config:
                        return 200, {"compatibilityLevel": self.subject_config[subject]}, {}
                    if query.get("defaultToGlobal") == "true":
                        return 200, {"compatibilityLevel": self.global_config}, {}
                    return (
                        404,
                        {
                            "error_code": 40408,
                            "message": f"Subject '{subject}' does not have subject-level compatibility configured",
                        },
                        {},
                    )
        if seg[0] == "subjects" and len(seg) >= 2:
            subject = seg[1]
            versions = self.subjects.get(subject, [])
            live = self._live(subject)
            if len(seg) == 2 and method == "DELETE":
                if not versions:
                    return not_found_subject
                if query.get("permanent") == "true":
                    if live:
                        return (
                            404,
                            {
                                "error_code": 40405,
                                "message": f"Subject '{subject}' was not deleted first before being permanently "
                                "deleted",
                            },
                            {},
                        )
                    del self.subjects[subject]
                    self.subject_config.pop(subject, None)
                    return 200, [v["version"] for v in versions], {}
                if not live:
                    return 404, {"error_code": 40404, "message": f"Subject '{subject}' was soft deleted."}, {}
                for v in live:
                    v["deleted"] = True
                return 200, [v["version"] for v in live], {}
            if len(seg) == 2 and method == "POST":  # lookup
                if not live:
                    return not_found_subject
                text = (payload or {}).get("schema", "")
                for v in live:
                    if _canon(v["schema"]) == _canon(text):
                        return 200, {k: v[k] for k in ("subject", "version", "id", "schema")}, {}
                return 404, {"error_code": 40403, "message": "Schema not found"}, {}
            if len(seg) == 3 and seg[2] == "versions":
                if method == "GET":
                    if not live:
                        return not_found_subject
                    return 200, [v["version"] for v in live], {}
                if method == "POST":
                    text = (payload or {}).get("schema", "")
                    problem = _invalid_avro(text)
                    if problem:
                        return 422, {"error_code": 42201, "message": f"Invalid schema {problem}"}, {}
                    for v in live:
                        if _canon(v["schema"]) == _canon(text):
                            if self.duplicate_409:
                                return 409, {"error_code": 409, "message": "Schema already exists"}, {}
                            return 200, {"id": v["id"]}, {}
                    messages = self._compat_messages(subject, text)
                    if messages:
                        return (
                            409,
                            {
                                "error_code": 409,
                                "message": "Schema being registered is incompatible with an earlier schema for "
                                f'subject "{subject}", details: {messages}',
                            },
                            {},
                        )
                    entry = self._add_version(subject, text, "AVRO")
                    return 200, {"id": entry["id"]}, {}
            if len(seg) == 4 and seg[2] == "versions" and method == "GET":
                if not live:
                    return not_found_subject
                if seg[3] == "latest":
                    entry = live[-1]
                else:
                    entry = next((v for v in live if str(v["version"]) == seg[3]), None)
                    if entry is None:
                        return 404, {"error_code": 40402, "message": "Version not found."}, {}
                body = {k: entry[k] for k in ("subject", "version", "id", "schema")}
                if entry["schemaType"] != "AVRO":
                    body["schemaType"] = entry["schemaType"]
                return 200, body, {}
        if seg[:2] == ["compatibility", "subjects"] and len(seg) == 5 and method == "POST":
            subject = seg[2]
            if self.verbose_unsupported and "verbose" in query:
                return 400, {"error_code": 400, "message": "Unrecognized field: verbose"}, {}
            if not self._live(subject):
                return 404, {"error_code": 40401, "message": f"Subject '{subject}' not found."}, {}
            text = (payload or {}).get("schema", "")
            problem = _invalid_avro(text)
            if problem:
                return 422, {"error_code": 42201, "message": f"Invalid schema {problem}"}, {}
            messages = self._compat_messages(subject, text)
            body: dict[str, Any] = {"is_compatible": not messages}
            if query.get("verbose") == "true":
                body["messages"] = messages
            return 200, body, {}
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}, {}

    # ------------------------------------------------------------------ server

    def start(self) -> FakeRegistry:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: avoid Nagle + delayed-ACK stalls
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = fake.handle(self.command, self.path, self.headers, body)
                headers = dict(headers)  # a fault's headers serve every time it fires
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode()
                    ctype = "application/vnd.schemaregistry.v1+json"
                else:
                    data = (payload or "").encode()
                    ctype = "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", ctype))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _canon(text: str) -> str:
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


def _invalid_avro(text: str) -> str | None:
    import fastavro.schema

    try:
        fastavro.schema.parse_schema(json.loads(text))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _fields(schema: Any) -> dict[str, dict[str, Any]]:
    if isinstance(schema, dict) and schema.get("type") == "record":
        return {f["name"]: f for f in schema.get("fields", [])}
    return {}


def _reader_problems(*, reader: Any, writer: Any, version: int) -> list[str]:
    """Simplified Avro schema resolution for records: enough for the tests."""
    problems = []
    written = _fields(writer)
    for name, f in _fields(reader).items():
        if name not in written and "default" not in f:
            problems.append(
                f"{{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field "
                f"'{name}' at path '/fields/{name}' in the new schema has no default value and "
                f"is missing in the old schema', additionalInfo:'{name}', version:{version}}}"
            )
        elif name in written and _canon(json.dumps(f["type"])) != _canon(json.dumps(written[name]["type"])):
            problems.append(
                f"{{errorType:'TYPE_MISMATCH', description:'The type of field '{name}' changed', version:{version}}}"
            )
    return problems


@pytest.fixture
def fake_registry():
    fake = FakeRegistry().start()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def apicurio_like():
    """A fake served under /apis/ccompat/v7 that needs the subject before its config."""
    fake = FakeRegistry(prefix="/apis/ccompat/v7")
    fake.config_requires_subject = True
    fake.start()
    try:
        yield fake
    finally:
        fake.close()
