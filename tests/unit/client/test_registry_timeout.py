"""A registry node that accepts connections but never answers (a stalled JVM, a half-open
connection) must not hang an app: the library's registry settings bound every request, so the
client gives up on that node and goes to the next one. Real SchemaRegistryClient, local sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

import k2infra.client.config as client_config
from k2infra.client import Platform, schema_registry_config
from tests.unit.client.test_client_library import outputs_of


@pytest.fixture
def silent_node() -> Iterator[str]:
    """A listening socket that is never read: connections are accepted by the kernel, no answer comes."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def answering_node() -> Iterator[str]:
    class Subjects(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(["market.equities.trades-value"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Subjects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_registry_request_has_a_time_limit() -> None:
    config = schema_registry_config(Platform.from_outputs(outputs_of("dev")))
    assert 0 < config["timeout"] <= 30


def test_a_node_that_never_answers_is_given_up_for_the_next(
    silent_node: str, answering_node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a short limit keeps the test quick; without any limit the lookup below never returns
    monkeypatch.setattr(client_config, "REGISTRY_REQUEST_TIMEOUT", 0.5)
    outputs = outputs_of("dev") | {"schema_registry_url": f"{silent_node},{answering_node}"}
    config = schema_registry_config(Platform.from_outputs(outputs))
    result: list[object] = []
    lookup = threading.Thread(target=lambda: result.append(SchemaRegistryClient(config).get_subjects()), daemon=True)
    started = time.monotonic()
    lookup.start()
    lookup.join(timeout=60)
    assert not lookup.is_alive(), f"the lookup still waits on the silent node after {time.monotonic() - started:.0f}s"
    assert result == [["market.equities.trades-value"]]
