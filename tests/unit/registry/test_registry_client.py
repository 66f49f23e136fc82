"""The HTTP client against the in-process fake registry: retries, timeouts, errors."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from k2infra.registry.client import (
    DEFAULT_BACKOFF,
    DEFAULT_MAX_RETRIES,
    MAX_BACKOFF,
    RETRY_STATUSES,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryIncompatibleError,
    RegistryInvalidSchemaError,
    RegistryNotCompatibleError,
    RegistryNotFoundError,
    RegistryTimeoutError,
    RegistryUnavailableError,
    sanitize_url,
)

SUBJECT = "market.equities.trades-value"
PASSWORD = "pa55-w0rd-XYZ"
TOKEN = "tok-ABC-123456"
V1 = json.dumps({"type": "record", "name": "Trade", "fields": [{"name": "symbol", "type": "string"}]})
V2_BAD = json.dumps(
    {
        "type": "record",
        "name": "Trade",
        "fields": [{"name": "symbol", "type": "string"}, {"name": "venue", "type": "string"}],
    }
)


def client(fake, **kw) -> RegistryClient:
    kw.setdefault("backoff", 0.01)
    return RegistryClient(kw.pop("url", fake.url), **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_no_secret(text: str) -> None:
    for secret in (PASSWORD, TOKEN):
        assert secret not in text


@pytest.fixture
def resetting_server() -> Iterator[tuple[str, list[int]]]:
    """``(url, accepted)``: a TCP server on 127.0.0.1 that resets every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed
            accepted.append(1)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        server.close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture
def unanswered_url() -> Iterator[str]:
    """A port whose accept queue is full: the kernel drops new SYNs, so connecting times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(server.getsockname())
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        for filler in fillers:
            filler.close()
        server.close()


# ---------------------------------------------------------------- retries


def test_retries_on_503_then_succeeds(fake_registry):
    fake_registry.fail("POST", "/versions", 503, times=2, body={"error_code": 50301, "message": "busy"})
    answer = client(fake_registry, max_retries=4).register(SUBJECT, V1)
    assert answer == {"id": 1}
    assert len(fake_registry.calls("POST", "/versions")) == 3
    assert fake_registry.live_versions(SUBJECT) == [1]  # retried, registered once


@pytest.mark.parametrize("status", [500, 502, 504, 429])
def test_other_5xx_and_429_are_retried(fake_registry, status):
    fake_registry.fail("GET", "/versions/latest", status, times=1)
    fake_registry.seed(SUBJECT, V1)
    latest = client(fake_registry, max_retries=2).get_latest(SUBJECT)
    assert latest["version"] == 1
    assert len(fake_registry.calls("GET", "/versions/latest")) == 2


def test_a_5xx_outside_the_retry_list_fails_at_once(fake_registry):
    fake_registry.fail("GET", "/versions/latest", 501, times=99, body={"error_code": 50101, "message": "no"})
    with pytest.raises(RegistryUnavailableError) as info:
        client(fake_registry, max_retries=3).get_latest(SUBJECT)
    assert "after 1 attempt: HTTP 501 (error_code 50101): no" in str(info.value)
    assert len(fake_registry.calls("GET")) == 1


def test_retries_exhausted(fake_registry):
    fake_registry.fail("POST", "/versions", 503, times=99, body={"error_code": 50302, "message": "leader not ready"})
    c = client(fake_registry, max_retries=3, password=PASSWORD, username="svc")
    with pytest.raises(RegistryUnavailableError) as info:
        c.register(SUBJECT, V1)
    message = str(info.value)
    assert message == (
        f"Schema Registry kept failing for subject '{SUBJECT}' at POST {fake_registry.url}/subjects/{SUBJECT}/versions"
        " after 4 attempts: HTTP 503 (error_code 50302): leader not ready"
    )
    assert info.value.status == 503
    assert len(fake_registry.calls("POST")) == 4
    assert_no_secret(message)


def test_the_retry_policy_is_urllib3s_bounded_backoff_with_jitter():
    retry = RegistryClient("http://registry:8081").retry
    assert (retry.total, retry.connect, retry.read, retry.status) == (DEFAULT_MAX_RETRIES,) * 4
    assert retry.status_forcelist == RETRY_STATUSES == {429, 500, 502, 503, 504}
    assert retry.allowed_methods is None  # POST too: every request of the client is idempotent
    assert retry.raise_on_status is False  # the last 5xx answer comes back, for its message
    # urllib3 retries at once, then waits backoff * 2**(n-1) plus up to `backoff` of jitter
    waits: dict[int, list[float]] = {}
    for _ in range(50):
        state = retry
        for n in range(1, DEFAULT_MAX_RETRIES + 1):
            state = state.increment("POST", "/subjects/s/versions", error=ReadTimeoutError(None, "/", "slow"))
            waits.setdefault(n, []).append(state.get_backoff_time())
    assert waits[1] == [0.0] * 50
    for n in range(2, DEFAULT_MAX_RETRIES + 1):
        low = DEFAULT_BACKOFF * 2 ** (n - 1)
        assert all(low <= w <= low + DEFAULT_BACKOFF for w in waits[n]), (n, waits[n])
        assert len(set(waits[n])) > 1  # jittered
    with pytest.raises(MaxRetryError):  # one more failure than max_retries: no further attempt
        state.increment("POST", "/subjects/s/versions", error=ReadTimeoutError(None, "/", "slow"))
    # no wait is ever longer than MAX_BACKOFF
    long = RegistryClient("http://registry:8081", max_retries=10).retry
    for _ in range(10):
        long = long.increment("GET", "/", error=ReadTimeoutError(None, "/", "slow"))
    assert long.get_backoff_time() == MAX_BACKOFF


def test_retry_after_is_honoured_and_capped(fake_registry):
    """What the registry's Retry-After makes the client's Retry wait (the wait replaces the backoff)."""
    fake_registry.fail("GET", "/config", 429, times=1, headers={"Retry-After": "3"})
    fake_registry.fail("GET", "/config", 503, times=1, headers={"Retry-After": "9999"})
    retry = client(fake_registry).retry
    assert retry.respect_retry_after_header is True
    with urllib3.PoolManager(retries=False) as http:
        first = http.request("GET", f"{fake_registry.url}/config/{SUBJECT}")
        second = http.request("GET", f"{fake_registry.url}/config/{SUBJECT}")
    assert (first.status, second.status) == (429, 503)
    assert retry.is_retry("GET", first.status) and retry.is_retry("POST", second.status)
    assert retry.get_retry_after(first) == 3
    assert retry.get_retry_after(second) == MAX_BACKOFF


def test_a_malformed_retry_after_is_reported(fake_registry):
    fake_registry.fail("GET", "/config", 503, times=1, headers={"Retry-After": "soon"})
    with pytest.raises(RegistryError) as info:
        client(fake_registry).get_compatibility(SUBJECT)
    assert str(info.value) == (
        f"Schema Registry request failed for subject '{SUBJECT}' at GET {fake_registry.url}/config/{SUBJECT}"
        "?defaultToGlobal=true: InvalidHeader: Invalid Retry-After header: soon"
    )
    assert len(fake_registry.calls("GET")) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(fake_registry, status):
    fake_registry.fail("POST", "/versions", status, body={"error_code": status * 100 + 1, "message": "no"})
    with pytest.raises(RegistryError) as info:
        client(fake_registry, max_retries=5).register(SUBJECT, V1)
    assert info.value.status == status
    assert len(fake_registry.calls("POST")) == 1


def test_read_timeout(fake_registry):
    fake_registry.fail("GET", "/versions/latest", status=200, delay=5, times=99)
    c = client(fake_registry, read_timeout=0.2, connect_timeout=0.5, max_retries=1)
    started = time.monotonic()
    with pytest.raises(RegistryTimeoutError) as info:
        c.get_latest(SUBJECT)
    assert time.monotonic() - started < 3
    assert str(info.value) == (
        f"Schema Registry timed out for subject '{SUBJECT}' at GET {fake_registry.url}/subjects/{SUBJECT}/versions/"
        "latest: read timeout on each of 2 attempts (connect timeout 0.5s, read timeout 0.2s)"
    )
    assert len(fake_registry.calls("GET")) == 2


def test_connect_timeout(unanswered_url):
    c = RegistryClient(unanswered_url, connect_timeout=0.2, max_retries=1, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(RegistryTimeoutError) as info:
        c.get_latest(SUBJECT)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "connect timeout on each of 2 attempts (connect timeout 0.2s, read timeout 30s)" in message
    assert SUBJECT in message and unanswered_url in message


def test_connection_refused_is_reported_after_every_attempt():
    url = f"http://127.0.0.1:{free_port()}"
    c = RegistryClient(url, max_retries=2, backoff=0.01, connect_timeout=0.5)
    with pytest.raises(RegistryUnavailableError) as info:
        c.get_latest(SUBJECT)
    assert str(info.value) == (
        f"Schema Registry unreachable for subject '{SUBJECT}' at GET {url}/subjects/{SUBJECT}/versions/latest: "
        "connection failed (ConnectionError) on each of 3 attempts; is the registry running and the URL right?"
    )


def test_a_dropped_connection_is_retried(resetting_server):
    url, accepted = resetting_server
    with pytest.raises(RegistryUnavailableError, match=r"unreachable .* on each of 3 attempts"):
        RegistryClient(url, max_retries=2, backoff=0.01).register(SUBJECT, V1)
    assert len(accepted) == 3  # POST is retried too


# ------------------------------------------------------------------ errors


def test_401_names_basic_auth(fake_registry):
    fake_registry.auth = ("basic", "svc", "right-password")
    with pytest.raises(RegistryAuthError) as info:
        client(fake_registry, username="svc", password=PASSWORD).register(SUBJECT, V1)
    message = str(info.value)
    assert "HTTP 401" in message and "basic auth (connection.username / connection.password)" in message
    assert SUBJECT in message and fake_registry.url in message
    assert_no_secret(message)


def test_401_names_token_or_missing_credentials(fake_registry):
    fake_registry.auth = ("bearer", "the-right-token")
    with pytest.raises(RegistryAuthError, match=r"bearer token \(connection.token\)") as info:
        client(fake_registry, token=TOKEN).get_latest(SUBJECT)
    assert_no_secret(str(info.value))
    with pytest.raises(RegistryAuthError, match="no credentials"):
        client(fake_registry).get_latest(SUBJECT)


def test_credentials_are_sent(fake_registry):
    fake_registry.auth = ("bearer", TOKEN)
    client(fake_registry, token=TOKEN).list_versions(SUBJECT)
    assert fake_registry.calls()[0].authorization == f"Bearer {TOKEN}"
    fake_registry.auth = ("basic", "svc", PASSWORD)
    client(fake_registry, username="svc", password=PASSWORD).list_versions(SUBJECT)
    assert fake_registry.calls()[-1].authorization.startswith("Basic ")


def test_403(fake_registry):
    fake_registry.forbidden = True
    with pytest.raises(RegistryAuthError) as info:
        client(fake_registry, username="svc", password=PASSWORD).set_compatibility(SUBJECT, "BACKWARD")
    message = str(info.value)
    assert "HTTP 403" in message and "not allowed" in message and "User is denied operation" in message
    assert SUBJECT in message and "/config/" in message
    assert_no_secret(message)


def test_echoed_credentials_are_scrubbed(fake_registry):
    fake_registry.auth = ("bearer", "other")
    fake_registry.echo_auth_in_errors = True
    with pytest.raises(RegistryAuthError) as info:
        client(fake_registry, token=TOKEN).get_latest(SUBJECT)
    assert "***" in str(info.value)
    assert_no_secret(str(info.value))


def test_404_subject_not_found_is_none_but_wrong_base_url_is_an_error(apicurio_like):
    assert client(apicurio_like).get_latest(SUBJECT) is None
    wrong = apicurio_like.url.replace("/apis/ccompat/v7", "")
    with pytest.raises(RegistryNotFoundError) as info:
        client(apicurio_like, url=wrong).get_latest(SUBJECT)
    message = str(info.value)
    assert "base URL" in message and "/apis/ccompat/v7" in message and SUBJECT in message
    apicurio_like.seed(SUBJECT, V1)
    assert client(apicurio_like).get_version(SUBJECT, 7) is None  # 40402: version not found
    with pytest.raises(RegistryNotFoundError, match="schema not found under the subject"):
        client(apicurio_like)._request("POST", f"/subjects/{SUBJECT}", subject=SUBJECT, json_body={"schema": V2_BAD})


def test_409_incompatible(fake_registry):
    fake_registry.seed(SUBJECT, V1, level="BACKWARD")
    with pytest.raises(RegistryIncompatibleError) as info:
        client(fake_registry).register(SUBJECT, V2_BAD)
    message = str(info.value)
    assert "HTTP 409" in message and SUBJECT in message and "READER_FIELD_MISSING_DEFAULT_VALUE" in message


def test_422_invalid_schema(fake_registry):
    with pytest.raises(RegistryInvalidSchemaError) as info:
        client(fake_registry).register(
            SUBJECT, '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}'
        )
    message = str(info.value)
    assert "HTTP 422" in message and "42201" in message and "Invalid schema" in message and SUBJECT in message


def test_a_redirect_is_reported_not_followed(fake_registry):
    fake_registry.fail("GET", "/versions/latest", 307, times=99, headers={"Location": "http://u:pw@other:8081/v7"})
    with pytest.raises(RegistryError) as info:
        client(fake_registry, max_retries=3).get_latest(SUBJECT)
    assert "answered with a redirect (HTTP 307)" in str(info.value)
    assert "set the connection URL to the final address (http://other:8081/v7)" in str(info.value)
    assert len(fake_registry.calls()) == 1


def test_sanitize_url_drops_userinfo():
    assert sanitize_url("https://u:p@reg.example:8081/apis/ccompat/v7") == "https://reg.example:8081/apis/ccompat/v7"
    assert sanitize_url("http://reg:8081") == "http://reg:8081"


# ------------------------------------------------------- registry behaviour


def test_compatibility_check_verbose_and_fallback(fake_registry):
    fake_registry.seed(SUBJECT, V1, level="BACKWARD")
    ok, reasons = client(fake_registry).check_compatibility(SUBJECT, V2_BAD)
    assert ok is False and "READER_FIELD_MISSING_DEFAULT_VALUE" in reasons[0]
    assert fake_registry.calls("POST", "/compatibility/")[0].query == {"verbose": "true"}

    fake_registry.verbose_unsupported = True
    fake_registry.clear_log()
    ok, reasons = client(fake_registry).check_compatibility(SUBJECT, V2_BAD)
    assert ok is False and reasons == []
    assert [c.query for c in fake_registry.calls("POST")] == [{"verbose": "true"}, {}]


def test_compatibility_check_of_a_new_subject_is_compatible(fake_registry):
    assert client(fake_registry).check_compatibility("brand-new-value", V2_BAD) == (True, [])


def test_soft_and_permanent_delete(fake_registry):
    fake_registry.seed(SUBJECT, V1)
    c = client(fake_registry)

    def sent() -> list[tuple[str, dict]]:
        seen = [(r.method, r.query) for r in fake_registry.calls()]
        fake_registry.clear_log()
        return seen

    assert c.delete_subject(SUBJECT) is True
    assert fake_registry.subjects[SUBJECT][0]["deleted"] is True
    assert sent() == [("DELETE", {})]
    assert c.delete_subject(SUBJECT) is False  # already soft-deleted
    assert sent() == [("DELETE", {})]
    assert c.delete_subject(SUBJECT, permanent=True) is True
    assert SUBJECT not in fake_registry.subjects
    assert sent() == [("DELETE", {}), ("DELETE", {"permanent": "true"})]
    # gone: the soft delete's 40401 ends it, nothing permanent is asked
    assert c.delete_subject(SUBJECT) is False and c.delete_subject(SUBJECT, permanent=True) is False
    assert sent() == [("DELETE", {}), ("DELETE", {})]


def test_config_read_falls_back_to_global(fake_registry):
    fake_registry.global_config = "FULL"
    assert client(fake_registry).get_compatibility(SUBJECT) == "FULL"
    client(fake_registry).set_compatibility(SUBJECT, "NONE")
    assert client(fake_registry).get_compatibility(SUBJECT) == "NONE"


# ------------------------------------------------------- several nodes of one registry


def test_a_node_that_refuses_connections_hands_the_request_to_the_next_at_once(fake_registry):
    down = f"http://127.0.0.1:{free_port()}"
    fake_registry.seed(SUBJECT, V1)
    c = RegistryClient(f"{down}/, {fake_registry.url}", max_retries=4, backoff=0.5)
    assert c.get_latest(SUBJECT)["version"] == 1
    assert c.base_urls == (down, fake_registry.url)
    assert c.base_url == fake_registry.url  # the node that answered: the next request goes there first
    assert c.list_versions(SUBJECT) == [1]
    assert len(fake_registry.calls("GET")) == 2


def test_a_node_failing_with_5xx_after_its_retries_hands_over_to_the_next(fake_registry, apicurio_like):
    fake_registry.fail("GET", "/subjects", 503, times=99)
    apicurio_like.seed(SUBJECT, V1)
    c = RegistryClient(f"{fake_registry.url},{apicurio_like.url}", max_retries=1, backoff=0.01)
    assert c.list_versions(SUBJECT) == [1]
    assert len(fake_registry.calls("GET")) == 2  # its own retry first: a 503 may be a moment's


def test_an_answer_of_a_node_is_the_registrys_answer_and_names_that_node(fake_registry, apicurio_like):
    apicurio_like.auth = ("basic", "svc", "right-password")
    down = f"http://127.0.0.1:{free_port()}"
    c = RegistryClient(f"{down},{apicurio_like.url},{fake_registry.url}", username="svc", password=PASSWORD)
    with pytest.raises(RegistryAuthError) as info:
        c.list_subjects()
    assert apicurio_like.url in str(info.value) and c.base_url == apicurio_like.url
    assert fake_registry.calls() == []  # a refusal is not failed over: the nodes share their users


def test_every_node_down_is_one_error_naming_each_node_and_why():
    nodes = [f"http://127.0.0.1:{free_port()}/apis/ccompat/v7" for _ in range(2)]
    c = RegistryClient(",".join(nodes), max_retries=2, backoff=0.01)
    with pytest.raises(RegistryUnavailableError) as info:
        c.list_subjects()
    assert str(info.value) == (
        "Schema Registry unreachable at each of its 2 nodes for subject '(every subject)' (GET /subjects): "
        f"{nodes[0]}: connection failed (ConnectionError) on each of 1 attempt; "
        f"{nodes[1]}: connection failed (ConnectionError) on each of 1 attempt"
    )
    assert info.value.url == ", ".join(nodes)


def test_a_url_that_answers_but_is_no_registry_is_named_as_such(fake_registry):
    fake_registry.fail("GET", "/subjects", 200, times=99, body="<html>it works</html>")
    with pytest.raises(RegistryNotCompatibleError) as info:
        client(fake_registry).list_subjects()
    assert str(info.value).startswith(
        f"{fake_registry.url} answers, but is not a Confluent-compatible Schema Registry: "
        "GET /subjects did not return a list of subjects"
    )
