"""A small client for the Confluent Schema Registry REST API.

It speaks the subset that Confluent Schema Registry, Karapace, Redpanda and
Apicurio's Confluent-compatible API (``<base>/apis/ccompat/v7``) share; the base
URL is whatever the caller passes (no path is appended).

Several nodes of one registry are given as a comma-separated list, as Confluent's
clients take ``schema.registry.url``: each request goes to the node that last
answered (the first at the start), and a node that cannot be reached (no
connection, a timeout, 5xx or 429 after its retries) hands the request to the
next one.  Any other answer (a 401, a 404, an incompatible schema) is the
registry's answer and ends the request there.  When no node answers, one error
names every node and why it failed.

Faults:

* every request has a connect and a read timeout;
* connection errors, timeouts, HTTP 429, 500, 502, 503 and 504 are retried by
  urllib3's ``Retry`` mounted on the session (``retry_policy``): bounded, with
  exponential backoff and jitter, ``Retry-After`` honoured but capped.  POST
  is retried too: every request this client makes is idempotent on the
  registry (registering a schema the subject already holds returns the
  existing id; lookups and compatibility checks are reads; a repeated delete
  finds the subject gone), so a retry after a lost response is safe;
* with several nodes a refused or timed-out connection is not retried on the
  same node: the next node is tried at once;
* what outlasts the retries, and every other status, raises a specific
  ``RegistryError`` subclass whose message names the subject, the method and
  URL, and the registry's own message.

Credentials are sent as headers only, are never part of a message (the URL is
printed without any ``user:password@`` part and known secret values are
scrubbed from every message), and the client is built per provider call from
the resource inputs: nothing here is meant to be pickled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import requests.adapters
import requests.auth
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from k2infra.model.connection import read_ca, registry_urls

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPT = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; qs=0.9, application/json; qs=0.5"

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 4
DEFAULT_BACKOFF = 0.5
MAX_BACKOFF = 10
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# Confluent error codes (also used by Karapace, Redpanda and Apicurio ccompat).
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
SUBJECT_CONFIG_NOT_FOUND = 40408
INVALID_SCHEMA = 42201

_NOT_FOUND_TEXT = {
    SUBJECT_NOT_FOUND: "subject not found",
    VERSION_NOT_FOUND: "version not found",
    SCHEMA_NOT_FOUND: "schema not found under the subject",
    SUBJECT_SOFT_DELETED: "subject was soft-deleted",
    SUBJECT_NOT_SOFT_DELETED: "subject must be soft-deleted before a permanent delete",
    SUBJECT_CONFIG_NOT_FOUND: "subject has no subject-level compatibility configured",
}


class RegistryError(Exception):
    """A Schema Registry request failed.  ``str(err)`` is a complete message."""

    def __init__(
        self,
        message: str,
        *,
        subject: str | None = None,
        url: str | None = None,
        status: int | None = None,
        error_code: int | None = None,
        registry_message: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.subject = subject
        self.url = url
        self.status = status
        self.error_code = error_code
        self.registry_message = registry_message
        self.reason = reason or message  # the cause alone, for a message naming several nodes


class RegistryAuthError(RegistryError):
    """401 or 403."""


class RegistryNotFoundError(RegistryError):
    """404: subject/version/schema not found, or a wrong base URL."""


class RegistryNotCompatibleError(RegistryNotFoundError):
    """The URL answers, but not as a Confluent-compatible Schema Registry API: a 404 without a
    registry error code, or an answer that is not the API's JSON (a web page, another service)."""


class RegistryIncompatibleError(RegistryError):
    """409: the schema is incompatible with earlier versions of the subject."""


class RegistryInvalidSchemaError(RegistryError):
    """422: the registry rejected the schema (or a version / compatibility value)."""


class RegistryUnavailableError(RegistryError):
    """Connection failures, 5xx or 429 that outlasted every retry."""


class RegistryTimeoutError(RegistryUnavailableError):
    """Every attempt timed out."""


def sanitize_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def ca_bundle_file(ca_cert: str | None) -> str | None:
    """A file path for ``ca_cert`` (PEM text, or the path of a PEM file: k2infra.model.connection.read_ca's
    rule), since requests takes a path for ``verify=``; ValueError when it is neither.

    PEM text is written to a temp file named after its hash, so that each call (one per provider
    call) writes the same file rather than a new one; it holds a public certificate, not a secret.
    """
    if not ca_cert:
        return None
    pem = read_ca(ca_cert, "the registry CA certificate")
    if pem != ca_cert:
        return ca_cert  # the path of a PEM file: requests reads it
    text = pem if pem.endswith("\n") else pem + "\n"
    path = Path(tempfile.gettempdir()) / f"k2infra-registry-ca-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pem"
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return str(path)


class RegistryClient:
    """Schema Registry REST client; one instance per provider call."""

    base_urls: tuple[str, ...]

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        verify: str | None = None,
    ) -> None:
        """``url``: one base URL, or several nodes of one registry comma-separated. ``verify`` is the
        path of a PEM CA bundle for an HTTPS registry with a private CA (``None``: the system's trust
        store)."""
        if not url or not isinstance(url, str) or not all(registry_urls(url)):
            raise ValueError("the registry URL is empty")
        self.base_urls = registry_urls(url)
        self._node = 0  # the node that answered last: the next request goes there first
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        # With another node to go to, a connection that fails is not tried again on the same node.
        self.retry = retry_policy(
            max(0, int(max_retries)), max(0.0, float(backoff)), connect_retries=len(self.base_urls) == 1
        )
        self._session = requests.Session()
        # Passed with every request: a session-level `verify` would lose to REQUESTS_CA_BUNDLE.
        self._verify: str | bool = verify or True
        adapter = requests.adapters.HTTPAdapter(max_retries=self.retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._secrets = [s for s in (password, token) if s]
        # Credentials go through ``auth=`` so that requests never substitutes ~/.netrc ones.
        self._auth: requests.auth.AuthBase | None
        if token:
            self._auth = _BearerAuth(token)
            self.auth_kind = "bearer token (connection.token)"
        elif username or password:
            self._auth = requests.auth.HTTPBasicAuth(username or "", password or "")
            raw = f"{username or ''}:{password or ''}".encode()
            self._secrets.append(base64.b64encode(raw).decode())
            self.auth_kind = "basic auth (connection.username / connection.password)"
        else:
            self._auth = None
            self.auth_kind = "no credentials (connection has neither username/password nor token)"
        self._headers = {"Accept": ACCEPT}

    @property
    def base_url(self) -> str:
        """The node the next request goes to first: the one that answered last."""
        return self.base_urls[self._node]

    # ----------------------------------------------------------------- operations

    def set_compatibility(self, subject: str, level: str) -> str:
        body = self._request("PUT", f"/config/{_q(subject)}", subject=subject, json_body={"compatibility": level})
        return _level(body) or level

    def get_compatibility(self, subject: str) -> str | None:
        """The effective level of ``subject``: its own, else the global one."""
        try:
            body = self._request("GET", f"/config/{_q(subject)}", subject=subject, params={"defaultToGlobal": "true"})
            level = _level(body)
            if level:
                return level
        except RegistryNotFoundError as exc:
            if exc.error_code is None:
                raise
        return _level(self._request("GET", "/config", subject=subject))

    def register(self, subject: str, schema: str) -> dict[str, Any]:
        """POST an Avro schema; returns the registry's body (always has ``id``)."""
        body = self._request(
            "POST",
            f"/subjects/{_q(subject)}/versions",
            subject=subject,
            json_body={"schema": schema},
        )
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            raise RegistryError(
                f"unexpected answer to registering a schema for subject '{subject}' at "
                f"{sanitize_url(self.base_url)}: {self._scrub(repr(body))[:300]}",
                subject=subject,
                url=sanitize_url(self.base_url),
            )
        return body

    def lookup(self, subject: str, schema: str) -> dict[str, Any] | None:
        """The version of ``subject`` holding ``schema`` (``{id, version, ...}``), or None."""
        try:
            body = self._request(
                "POST",
                f"/subjects/{_q(subject)}",
                subject=subject,
                json_body={"schema": schema},
            )
        except RegistryNotFoundError as exc:
            if exc.error_code in (SUBJECT_NOT_FOUND, SCHEMA_NOT_FOUND, SUBJECT_SOFT_DELETED):
                return None
            raise
        return body if isinstance(body, dict) else None

    def get_latest(self, subject: str) -> dict[str, Any] | None:
        """``{subject, id, version, schema, ...}`` of the latest version, or None."""
        return self.get_version(subject, "latest")

    def get_version(self, subject: str, version: int | str) -> dict[str, Any] | None:
        try:
            body = self._request("GET", f"/subjects/{_q(subject)}/versions/{version}", subject=subject)
        except RegistryNotFoundError as exc:
            if exc.error_code in (SUBJECT_NOT_FOUND, VERSION_NOT_FOUND, SUBJECT_SOFT_DELETED):
                return None
            raise
        return body if isinstance(body, dict) else None

    def list_subjects(self, *, include_deleted: bool = False) -> list[str]:
        params = {"deleted": "true"} if include_deleted else None
        body = self._request("GET", "/subjects", subject="(every subject)", params=params)
        if not isinstance(body, list):
            shown = sanitize_url(self.base_url)
            raise RegistryNotCompatibleError(
                f"{shown} answers, but is not a Confluent-compatible Schema Registry: GET /subjects did not "
                f"return a list of subjects (Confluent/Karapace/Redpanda: http://host:8081; "
                f"Apicurio: http://host:8080/apis/ccompat/v7)",
                subject="(every subject)",
                url=shown + "/subjects",
            )
        return sorted(str(name) for name in body)

    def list_versions(self, subject: str) -> list[int]:
        try:
            body = self._request("GET", f"/subjects/{_q(subject)}/versions", subject=subject)
        except RegistryNotFoundError as exc:
            if exc.error_code in (SUBJECT_NOT_FOUND, SUBJECT_SOFT_DELETED):
                return []
            raise
        return [int(v) for v in body] if isinstance(body, list) else []

    def check_compatibility(self, subject: str, schema: str) -> tuple[bool, list[str]]:
        """Is ``schema`` compatible with the latest version of ``subject``?

        Returns ``(is_compatible, reasons)``.  Asks with ``?verbose=true`` (the
        registry then lists its reasons) and repeats the question without it if
        the registry rejects the parameter.  A subject with no version yet is
        compatible with anything.
        """
        path = f"/compatibility/subjects/{_q(subject)}/versions/latest"
        body_in = {"schema": schema}
        try:
            try:
                body = self._request("POST", path, subject=subject, json_body=body_in, params={"verbose": "true"})
            except RegistryError as exc:
                if exc.status == 400 or (exc.status == 422 and exc.error_code != INVALID_SCHEMA):
                    body = self._request("POST", path, subject=subject, json_body=body_in)
                else:
                    raise
        except RegistryNotFoundError as exc:
            if exc.error_code in (SUBJECT_NOT_FOUND, VERSION_NOT_FOUND, SUBJECT_SOFT_DELETED):
                return True, []
            raise
        if not isinstance(body, dict):
            raise RegistryError(
                f"unexpected answer to a compatibility check for subject '{subject}': {self._scrub(repr(body))[:300]}",
                subject=subject,
                url=sanitize_url(self.base_url + path),
            )
        verdict = body.get("is_compatible", body.get("isCompatible", body.get("compatible")))
        messages = body.get("messages") or []
        if isinstance(messages, str):
            messages = [messages]
        return bool(verdict), [self._scrub(str(m)) for m in messages]

    def delete_subject(self, subject: str, *, permanent: bool = False) -> bool:
        """Delete ``subject``; True if something was deleted, False if it was already gone.

        A permanent delete first soft-deletes (Confluent requires it), then
        deletes with ``?permanent=true``.
        """
        soft_deleted_now = False
        try:
            self._request("DELETE", f"/subjects/{_q(subject)}", subject=subject)
            soft_deleted_now = True
        except RegistryNotFoundError as exc:
            if exc.error_code == SUBJECT_NOT_FOUND:
                return False
            if exc.error_code != SUBJECT_SOFT_DELETED:
                raise
            if not permanent:
                return False  # already soft-deleted
        if not permanent:
            return True
        try:
            self._request("DELETE", f"/subjects/{_q(subject)}", subject=subject, params={"permanent": "true"})
            return True
        except RegistryNotFoundError as exc:
            if exc.error_code == SUBJECT_NOT_FOUND:
                # The soft delete was already final (registries without soft delete).
                return soft_deleted_now
            raise

    # ------------------------------------------------------------------ transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        subject: str,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The answer of the first node that answers, starting with the one that answered last."""
        failed: list[tuple[str, RegistryUnavailableError]] = []
        for step in range(len(self.base_urls)):
            node = (self._node + step) % len(self.base_urls)
            try:
                answer = self._request_node(
                    self.base_urls[node], method, path, subject=subject, json_body=json_body, params=params
                )
            except RegistryUnavailableError as exc:
                failed.append((sanitize_url(self.base_urls[node]), exc))
                continue
            except RegistryError:
                self._node = node  # it answered: its answer stands, and messages name it
                raise
            self._node = node
            return answer
        if len(failed) == 1:
            raise failed[0][1]
        nodes = ", ".join(node for node, _ in failed)
        reasons = "; ".join(f"{node}: {exc.reason}" for node, exc in failed)
        error = RegistryTimeoutError if all(isinstance(e, RegistryTimeoutError) for _, e in failed) else None
        raise (error or RegistryUnavailableError)(
            f"Schema Registry unreachable at each of its {len(failed)} nodes for subject '{subject}' "
            f"({method} {path}): {reasons}",
            subject=subject,
            url=nodes,
            reason=reasons,
        )

    def _request_node(
        self,
        base_url: str,
        method: str,
        path: str,
        *,
        subject: str,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        url = base_url + path
        shown = sanitize_url(url) + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        headers = dict(self._headers)
        data = None
        if json_body is not None:
            headers["Content-Type"] = CONTENT_TYPE
            data = json.dumps(json_body).encode()
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                auth=self._auth,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                verify=self._verify,
            )
        except requests.exceptions.RequestException as exc:
            raise self._failure(exc, method, shown, subject) from None
        status = response.status_code
        if status < 300:
            return _json_or_none(response)
        if status >= 500 or status == 429:
            # Retry hands the last answer back once it gives up (raise_on_status=False).
            retries = getattr(response.raw, "retries", None)
            tried = _attempts(len(retries.history) + 1 if isinstance(retries, Retry) else 1)
            summary = self._status_summary(response)
            raise RegistryUnavailableError(
                f"Schema Registry kept failing for subject '{subject}' at {method} {shown} after {tried}: {summary}",
                subject=subject,
                url=shown,
                status=status,
                reason=f"{summary} after {tried}",
            )
        raise self._error(response, method, shown, subject)

    def _failure(
        self, exc: requests.exceptions.RequestException, method: str, shown: str, subject: str
    ) -> RegistryError:
        """The error for a request that got no answer, after every retry."""
        # requests wraps urllib3's error; retries that ran out are a MaxRetryError carrying the last one.
        cause = exc.args[0] if exc.args else None
        reason = cause.reason if isinstance(cause, MaxRetryError) else cause
        connect = isinstance(exc, requests.exceptions.ConnectTimeout) or (
            isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError)
        )
        # Each failure without an answer uses up one of ``total`` (and of ``connect`` for a connection
        # not made): giving up means every attempt was made.
        no_connection = connect or isinstance(reason, NewConnectionError)
        tried = _attempts(min(self.retry.total, self.retry.connect if no_connection else self.retry.total) + 1)
        if connect or isinstance(exc, requests.exceptions.Timeout) or isinstance(reason, ReadTimeoutError):
            timed_out = (
                f"{'connect' if connect else 'read'} timeout on each of {tried} (connect timeout "
                f"{self.connect_timeout:g}s, read timeout {self.read_timeout:g}s)"
            )
            return RegistryTimeoutError(
                f"Schema Registry timed out for subject '{subject}' at {method} {shown}: {timed_out}",
                subject=subject,
                url=shown,
                reason=timed_out,
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            failed = f"connection failed ({type(exc).__name__}) on each of {tried}"
            return RegistryUnavailableError(
                f"Schema Registry unreachable for subject '{subject}' at {method} {shown}: "
                f"{failed}; is the registry running and the URL right?",
                subject=subject,
                url=shown,
                reason=failed,
            )
        return RegistryError(
            f"Schema Registry request failed for subject '{subject}' at {method} {shown}: "
            f"{type(exc).__name__}: {self._scrub(str(exc))[:300]}",
            subject=subject,
            url=shown,
        )

    def _status_summary(self, response: requests.Response) -> str:
        code, message = _error_body(response)
        text = f"HTTP {response.status_code}"
        if code is not None:
            text += f" (error_code {code})"
        if message:
            text += f": {self._scrub(message)}"
        return text

    def _error(self, response: requests.Response, method: str, shown: str, subject: str) -> RegistryError:
        status = response.status_code
        code, registry_message = _error_body(response)
        registry_message = self._scrub(registry_message) if registry_message else ""
        where = f"for subject '{subject}' at {method} {shown}"
        said = f": {registry_message}" if registry_message else ""
        coded = f"HTTP {status}" + (f", error_code {code}" if code is not None else "")
        kwargs: dict[str, Any] = dict(
            subject=subject,
            url=shown,
            status=status,
            error_code=code,
            registry_message=registry_message or None,
        )
        if status == 401:
            return RegistryAuthError(
                f"Schema Registry authentication failed ({coded}) {where}: the registry did not "
                f"accept the credentials sent: {self.auth_kind}{said}",
                **kwargs,
            )
        if status == 403:
            return RegistryAuthError(
                f"Schema Registry denied access ({coded}) {where}: the principal of the "
                f"credentials sent ({self.auth_kind}) is not allowed this operation{said}",
                **kwargs,
            )
        if 300 <= status < 400:
            location = sanitize_url(response.headers.get("Location", "") or "?")
            return RegistryError(
                f"Schema Registry answered with a redirect ({coded}) {where}: set the "
                f"connection URL to the final address ({location})",
                **kwargs,
            )
        if status == 404:
            if code is None or code == 404:
                return RegistryNotCompatibleError(
                    f"Schema Registry returned HTTP 404 without a registry error {where}: the "
                    f"base URL is probably wrong (Confluent/Karapace/Redpanda: http://host:8081; "
                    f"Apicurio: http://host:8080/apis/ccompat/v7){said}",
                    **kwargs,
                )
            what = _NOT_FOUND_TEXT.get(code, "not found")
            return RegistryNotFoundError(f"Schema Registry: {what} ({coded}) {where}{said}", **kwargs)
        if status == 409:
            return RegistryIncompatibleError(
                f"Schema Registry rejected the schema as incompatible ({coded}) {where}{said}",
                **kwargs,
            )
        if status == 422:
            return RegistryInvalidSchemaError(
                f"Schema Registry rejected the request as invalid ({coded}) {where}{said}",
                **kwargs,
            )
        return RegistryError(f"Schema Registry request failed ({coded}) {where}{said}", **kwargs)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret and len(secret) >= 3:
                text = text.replace(secret, "***")
        return text


class _BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def _q(subject: str) -> str:
    return quote(subject, safe="")


def _level(body: Any) -> str | None:
    if isinstance(body, dict):
        value = body.get("compatibilityLevel") or body.get("compatibility")
        if isinstance(value, str):
            return value.upper()
    return None


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _error_body(response: requests.Response) -> tuple[int | None, str]:
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return None, (text[:300] + "...") if len(text) > 300 else text
    if isinstance(body, dict):
        code = body.get("error_code", body.get("errorCode"))
        message = body.get("message") or body.get("detail") or body.get("title") or ""
        try:
            code = int(code) if code is not None else None
        except (TypeError, ValueError):
            code = None
        return code, str(message)
    return None, str(body)[:300]


def retry_policy(max_retries: int, backoff: float, *, connect_retries: bool = True) -> Retry:
    """The client's urllib3 ``Retry``: at most ``max_retries`` retries, none waiting over ``MAX_BACKOFF``.

    urllib3 retries at once the first time, then waits ``backoff * 2**(n-1)`` plus up to ``backoff``
    of jitter before retry ``n``; a ``Retry-After`` header replaces that wait. Without
    ``connect_retries`` (a registry with another node to go to), a connection that cannot be made
    is not tried again.
    """
    return Retry(
        total=max_retries,
        connect=max_retries if connect_retries else 0,
        read=max_retries,
        status=max_retries,
        allowed_methods=None,  # every method: see the module docstring
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff,
        backoff_jitter=backoff,
        backoff_max=MAX_BACKOFF,
        respect_retry_after_header=True,
        retry_after_max=MAX_BACKOFF,
        raise_on_status=False,
    )


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count != 1 else ''}"
