"""The HTTP client against the in-process fake registry: retries, timeouts, errors."""

from __future__ import annotations

import json
import socket
import time

import pytest

from k2infra.registry.client import (
    MAX_BACKOFF,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryIncompatibleError,
    RegistryInvalidSchemaError,
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


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(fake, *, sleeps=None, **kw) -> RegistryClient:
    kw.setdefault("backoff", 0.01)
    return RegistryClient(kw.pop("url", fake.url), sleep=sleeps if sleeps is not None else Sleeps(), **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_no_secret(text: str) -> None:
    for secret in (PASSWORD, TOKEN):
        assert secret not in text


# ---------------------------------------------------------------- retries


def test_retries_on_503_then_succeeds(fake_registry):
    fake_registry.fail("POST", "/versions", 503, times=2, body={"error_code": 50301, "message": "busy"})
    sleeps = Sleeps()
    answer = client(fake_registry, sleeps=sleeps, max_retries=4).register(SUBJECT, V1)
    assert answer == {"id": 1}
    assert len(fake_registry.calls("POST", "/versions")) == 3
    assert len(sleeps) == 2
    # exponential backoff with jitter: attempt n waits within [b*2^n/2, b*2^n]
    for n, delay in enumerate(sleeps):
        assert 0.01 * 2**n / 2 <= delay <= 0.01 * 2**n


@pytest.mark.parametrize("status", [500, 502, 504, 429])
def test_other_5xx_and_429_are_retried(fake_registry, status):
    fake_registry.fail("GET", "/versions/latest", status, times=1)
    fake_registry.seed(SUBJECT, V1)
    latest = client(fake_registry, max_retries=2).get_latest(SUBJECT)
    assert latest["version"] == 1
    assert len(fake_registry.calls("GET", "/versions/latest")) == 2


def test_retry_after_is_honoured_and_capped(fake_registry):
    fake_registry.fail("GET", "/config", 429, times=1, headers={"Retry-After": "3"})
    fake_registry.fail("GET", "/config", 429, times=1, headers={"Retry-After": "9999"})
    sleeps = Sleeps()
    client(fake_registry, sleeps=sleeps).get_compatibility(SUBJECT)
    assert sleeps[0] >= 3
    assert sleeps[1] == MAX_BACKOFF


def test_retries_exhausted(fake_registry):
    fake_registry.fail("POST", "/versions", 503, times=99, body={"error_code": 50302, "message": "leader not ready"})
    sleeps = Sleeps()
    c = client(fake_registry, sleeps=sleeps, max_retries=3, password=PASSWORD, username="svc")
    with pytest.raises(RegistryUnavailableError) as info:
        c.register(SUBJECT, V1)
    message = str(info.value)
    assert SUBJECT in message and fake_registry.url in message
    assert "4 attempts" in message and "HTTP 503" in message and "leader not ready" in message
    assert len(fake_registry.calls("POST")) == 4 and len(sleeps) == 3
    assert_no_secret(message)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(fake_registry, status):
    fake_registry.fail("POST", "/versions", status, body={"error_code": status * 100 + 1, "message": "no"})
    with pytest.raises(RegistryError):
        client(fake_registry, max_retries=5).register(SUBJECT, V1)
    assert len(fake_registry.calls("POST")) == 1


def test_timeout(fake_registry):
    fake_registry.fail("GET", "/versions/latest", status=200, delay=5, times=99)
    c = client(fake_registry, read_timeout=0.2, connect_timeout=0.5, max_retries=1)
    started = time.monotonic()
    with pytest.raises(RegistryTimeoutError) as info:
        c.get_latest(SUBJECT)
    assert time.monotonic() - started < 3
    message = str(info.value)
    assert "read timeout" in message and "2 attempts" in message and SUBJECT in message
    assert fake_registry.url in message
    assert len(fake_registry.calls("GET")) == 2


def test_connection_refused_is_retried_then_reported():
    url = f"http://127.0.0.1:{free_port()}"
    sleeps = Sleeps()
    c = RegistryClient(url, max_retries=2, backoff=0.01, sleep=sleeps, connect_timeout=0.5)
    with pytest.raises(RegistryUnavailableError) as info:
        c.get_latest(SUBJECT)
    assert len(sleeps) == 2
    assert "unreachable" in str(info.value) and url in str(info.value) and SUBJECT in str(info.value)


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
    assert c.delete_subject(SUBJECT) is True
    assert fake_registry.subjects[SUBJECT][0]["deleted"] is True
    assert c.delete_subject(SUBJECT) is False  # already soft-deleted
    assert c.delete_subject(SUBJECT, permanent=True) is True
    assert SUBJECT not in fake_registry.subjects
    assert c.delete_subject(SUBJECT) is False and c.delete_subject(SUBJECT, permanent=True) is False


def test_config_read_falls_back_to_global(fake_registry):
    fake_registry.global_config = "FULL"
    assert client(fake_registry).get_compatibility(SUBJECT) == "FULL"
    client(fake_registry).set_compatibility(SUBJECT, "NONE")
    assert client(fake_registry).get_compatibility(SUBJECT) == "NONE"
