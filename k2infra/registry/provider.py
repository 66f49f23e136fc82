"""Pulumi dynamic provider: one Schema Registry subject as one Pulumi resource.

The resource id is the subject name. Inputs (see ``resource.py``): ``subject``, ``schema`` (Avro
schema text), ``compatibility``, ``connection`` (``url``, which may list several nodes of one
registry, comma-separated, failed over on every request, plus optional ``username``/``password`` or
``token``) and ``hard_delete``. Outputs repeat every input and add ``schema_id`` and ``version``.
Each lifecycle method says what it does and why above its code; docs/architecture.md §9 has the
table. The class holds no state, so dill pickles only a reference to it into the state
(``__provider``), and every method builds its HTTP client from the properties it is given.
Credentials are secret inputs: dynamic providers get them as plain values, the engine re-marks an
output secret whose input was, and ``resource.py`` marks the whole echoed ``connection`` secret;
errors print URLs without userinfo and scrub known secret values (``client.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from k2infra.model.avro_canonical import (
    COMPATIBILITY_LEVELS,
    SchemaTextError,
    canonical_schema,
    field_changes,
    minified_schema,
)
from k2infra.model.connection import registry_urls
from k2infra.registry.client import (
    DEFAULT_MAX_RETRIES,
    RegistryClient,
    RegistryError,
    RegistryIncompatibleError,
    RegistryNotFoundError,
    RegistryUnavailableError,
    ca_bundle_file,
    sanitize_url,
)

# Keys of the ``connection`` input.
CONNECTION_KEYS = ("url", "username", "password", "token", "ca_cert")
# The outputs: the inputs echoed, plus what the registry assigned.
OUTPUT_KEYS = ("subject", "schema", "compatibility", "connection", "hard_delete", "schema_id", "version")
# How check words a registry's "incompatible" (the change summary names the refusal by it).
INCOMPATIBLE = "is incompatible with its latest registered version"

# Registry verdicts are reported against the resource, not the ``schema`` property: the engine
# would otherwise print the whole schema text before the reason.
_WHOLE = ""

_UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # pulumi.runtime.rpc secret signature


def is_unknown(value: Any) -> bool:
    """True for a value not known during preview (in any form the SDK hands over)."""
    if isinstance(value, str):
        return value == _UNKNOWN_SENTINEL
    if type(value).__name__ == "Unknown":
        return True
    if isinstance(value, dict):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(is_unknown(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    """Unwrap ``{sig: secret, value: ...}`` wrappers (defensive: the engine strips them)."""
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == _SECRET_SIG:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _canonical_of(props: dict[str, Any]) -> str | None:
    """Canonical schema of a property bag, or None if absent/invalid/unknown."""
    schema = props.get("schema")
    if not isinstance(schema, str) or is_unknown(schema):
        return None
    try:
        return canonical_schema(schema)
    except SchemaTextError:
        return None


def _connection(props: dict[str, Any]) -> dict[str, Any]:
    conn = _plain(props.get("connection"))
    return conn if isinstance(conn, dict) else {}


def _client(props: dict[str, Any], *, max_retries: int = DEFAULT_MAX_RETRIES) -> RegistryClient:
    """A fresh HTTP client from a property bag; never stored on the provider."""
    conn = _connection(props)
    url = conn.get("url")
    if not isinstance(url, str) or not url:
        raise RegistryError(
            f"no Schema Registry URL (connection.url) for subject '{props.get('subject')}'",
            subject=props.get("subject"),
        )
    return RegistryClient(
        url,
        username=conn.get("username") or None,
        password=conn.get("password") or None,
        token=conn.get("token") or None,
        max_retries=max_retries,
        verify=ca_bundle_file(conn.get("ca_cert") or None),
    )


def _is_new_subject(olds: dict[str, Any], new: dict[str, Any]) -> bool:
    """Check is about to create a subject (no old inputs, or the subject changes)."""
    return not olds or olds.get("subject") != new.get("subject")


def _normalised_connection(conn: dict[str, Any]) -> dict[str, Any]:
    out = {k: conn.get(k) for k in CONNECTION_KEYS if conn.get(k) not in (None, "")}
    if isinstance(out.get("url"), str):
        out["url"] = ",".join(registry_urls(out["url"]))  # a single URL: without its trailing slash, as before
    return out


class SchemaRegistryProvider(ResourceProvider):
    """Dynamic provider for ``SchemaSubject``, stateless by design (module docstring)."""

    # ------------------------------------------------------------------- check

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """At ``pulumi preview`` and ``up``, with the *old inputs* and the new ones.

        Validates without the network: subject, a known compatibility level, a parseable schema, an
        http(s) URL without ``user:pass@``, not both basic auth and a token. Then, only if the canonical
        schema differs from the old inputs' (or the resource is new, or its subject changed), it asks the
        registry ``POST /compatibility/subjects/{s}/versions/latest?verbose=true`` and turns
        "incompatible" into a CheckFailure naming the subject and the registry's reasons, so the preview
        fails and nothing is registered. A subject with no version yet is compatible. Registries that
        answer only true/false (Apicurio) get a local, labelled list of the field changes against the
        latest version instead. An unreachable registry fails the check of a changed schema, but not of a
        new subject: the registry may be created by the same deployment, and the create reports it if it
        is still down. One retry at most, so previews stay quick when the registry is down. Skipped (no
        network): nothing changed; a needed value unknown during preview; the new level is NONE; or the
        level changes in the same update (the registry can only judge under its *current* level, which
        would give a wrong answer; ``update`` sets the new level first and a real incompatibility still
        fails there with HTTP 409).
        """
        olds = _plain(_olds or {})
        new = _plain(news)
        failures = self._validate(new)
        if failures or not self._needs_remote_check(olds, new):
            return CheckResult(news, failures)
        subject = new["subject"]
        try:
            client = _client(new, max_retries=1)
            compatible, reasons = client.check_compatibility(subject, minified_schema(new["schema"]))
        except RegistryUnavailableError as exc:
            if _is_new_subject(olds, new):
                # Nothing of ours is registered yet and the registry may be created in this very
                # deployment (e.g. a local container): the create will report it if still down.
                return CheckResult(news, [])
            return CheckResult(
                news,
                [CheckFailure(_WHOLE, f"could not check compatibility of subject '{subject}': {exc}")],
            )
        except RegistryError as exc:
            return CheckResult(
                news,
                [CheckFailure(_WHOLE, f"could not check compatibility of subject '{subject}': {exc}")],
            )
        if not compatible:
            detail = "; ".join(reasons) if reasons else self._no_reasons(client, new)
            failures.append(
                CheckFailure(
                    _WHOLE,
                    f"the new schema for subject '{subject}' {INCOMPATIBLE} "
                    f"(compatibility {new.get('compatibility')}) at "
                    f"{sanitize_url(client.base_url)}: {detail}",
                )
            )
        return CheckResult(news, failures)

    @staticmethod
    def _no_reasons(client: RegistryClient, new: dict[str, Any]) -> str:
        """Some registries (Apicurio) only say false: describe the changes ourselves."""
        text = "the registry gave no reasons"
        try:
            latest = client.get_latest(new["subject"])
        except RegistryError:
            return text
        if not latest or not isinstance(latest.get("schema"), str):
            return text
        changes = field_changes(latest["schema"], new["schema"])
        if not changes:
            return text
        return f"{text}; changes from latest version {latest.get('version')} (local analysis): " + "; ".join(changes)

    @staticmethod
    def _validate(new: dict[str, Any]) -> list[CheckFailure]:
        failures: list[CheckFailure] = []
        subject = new.get("subject")
        if not is_unknown(subject) and (not isinstance(subject, str) or not subject.strip()):
            failures.append(CheckFailure("subject", "subject must be a non-empty string"))
        level = new.get("compatibility")
        if not is_unknown(level) and level not in COMPATIBILITY_LEVELS:
            failures.append(
                CheckFailure(
                    "compatibility",
                    f"compatibility {level!r} for subject '{subject}' is not one of {', '.join(COMPATIBILITY_LEVELS)}",
                )
            )
        schema = new.get("schema")
        if not is_unknown(schema):
            if not isinstance(schema, str):
                failures.append(CheckFailure("schema", f"schema of subject '{subject}' must be text"))
            else:
                try:
                    canonical_schema(schema)
                except SchemaTextError as exc:
                    failures.append(CheckFailure("schema", f"schema of subject '{subject}' is invalid: {exc}"))
        conn = new.get("connection")
        if not is_unknown(conn) or isinstance(conn, dict):
            conn = conn if isinstance(conn, dict) else {}
            url = conn.get("url")
            if not is_unknown(url):
                # One URL, or several nodes of one registry comma-separated: each is checked.
                for node in (registry_urls(url) if isinstance(url, str) else None) or (None,):
                    parts = urlsplit(node) if node is not None else None
                    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                        failures.append(
                            CheckFailure(
                                "connection",
                                f"connection.url for subject '{subject}' must be an http(s) URL "
                                "such as http://localhost:8081 or http://host:8080/apis/ccompat/v7"
                                + (f" (got {node!r})" if node is not None and node != url else ""),
                            )
                        )
                    elif parts.username is not None or parts.password is not None:
                        failures.append(
                            CheckFailure(
                                "connection",
                                f"connection.url for subject '{subject}' contains credentials: pass "
                                "them as connection username/password (secrets) instead",
                            )
                        )
            has_basic = bool(conn.get("username")) or bool(conn.get("password"))
            if has_basic and conn.get("token"):
                failures.append(
                    CheckFailure(
                        "connection",
                        f"connection for subject '{subject}' has both basic auth and a token: give one of them",
                    )
                )
        hard_delete = new.get("hard_delete", False)
        if not is_unknown(hard_delete) and not isinstance(hard_delete, bool):
            failures.append(CheckFailure("hard_delete", "hard_delete must be true or false"))
        return failures

    @staticmethod
    def _needs_remote_check(olds: dict[str, Any], new: dict[str, Any]) -> bool:
        for key in ("subject", "schema", "compatibility", "connection"):
            if is_unknown(new.get(key)):
                return False  # preview with unknown inputs: the update will tell
        level = new.get("compatibility")
        if level == "NONE":
            return False  # everything is compatible under NONE
        if _is_new_subject(olds, new):
            return True  # new subject for this resource: compare with what the registry holds
        if olds.get("compatibility") != level:
            return False  # the registry would judge under the old level; see docstring
        return _canonical_of(olds) != _canonical_of(new)

    # -------------------------------------------------------------------- diff

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        """Never touches the network; gets the *old outputs* and the new inputs.

        Compares the canonical schema (``avro_canonical``: whitespace, key order, namespace spelling are
        no change; defaults, docs, logical types are). ``subject`` replaces (create the new subject, then
        delete the old one: they never collide). Compatibility, ``hard_delete`` and the connection are
        in-place updates. A connection change (URL moved, password rotated) must be an update although it
        changes nothing in the registry: ``read`` and ``delete`` receive only the stored *outputs*, so
        they must carry the current connection; that update makes no HTTP call.
        """
        olds, news = _plain(_olds), _plain(_news)
        replaces: list[str] = []
        changed: list[str] = []
        if olds.get("subject") != news.get("subject"):
            replaces.append("subject")
        if is_unknown(news.get("schema")):
            changed.append("schema")
        else:
            new_canonical = _canonical_of(news)
            if new_canonical is None or new_canonical != _canonical_of(olds):
                changed.append("schema")
        if olds.get("compatibility") != news.get("compatibility"):
            changed.append("compatibility")
        if bool(olds.get("hard_delete", False)) != bool(news.get("hard_delete", False)):
            changed.append("hard_delete")
        if _normalised_connection(_connection(olds)) != _normalised_connection(_connection(news)):
            changed.append("connection")
        if not isinstance(olds.get("schema_id"), (int, float)):
            changed.append("schema_id")  # a state without an id: make update re-register
        return DiffResult(
            changes=bool(changed or replaces),
            replaces=replaces,
            delete_before_replace=False,
        )

    # ------------------------------------------------------------------ create

    def create(self, props: dict[str, Any]) -> CreateResult:
        """``PUT /config/{s}`` (compatibility), then ``POST /subjects/{s}/versions``.

        Idempotent, so an interrupted ``pulumi up`` converges on re-run: a schema the subject already
        holds gets its existing id back from Confluent-style registries; a registry that answers 409 to a
        duplicate is asked ``POST /subjects/{s}`` whether it holds the schema, and the existing
        id/version is adopted. The version comes from that lookup (the register answer has only the id).
        A registry that cannot configure a subject before it exists (Apicurio: 404) gets the level after
        the first version.
        """
        props = _plain(props)
        subject = props["subject"]
        level = props.get("compatibility")
        client = _client(props)
        level_pending = False
        if level:
            try:
                client.set_compatibility(subject, level)
            except RegistryNotFoundError as exc:
                if exc.error_code is None or exc.error_code == 404:
                    raise  # wrong base URL, not "subject unknown"
                level_pending = True  # registry needs the subject to exist first
        schema_id, version = self._register(client, subject, props["schema"])
        if level_pending:
            client.set_compatibility(subject, level)
        return CreateResult(subject, self._outputs(props, schema_id, version))

    @staticmethod
    def _register(client: RegistryClient, subject: str, schema: str) -> tuple[int, int]:
        """Register, then insist that the declared schema is the subject's latest version.

        A registry answers a schema the subject already holds with that version's id and registers
        nothing, even when a newer version exists (one registered outside Pulumi): reporting that old
        version as current would hide the drift and show it again on every refresh.
        """
        schema_id, version = SchemaRegistryProvider._registered_version(client, subject, schema)
        latest = client.get_latest(subject)
        latest_version = latest.get("version") if latest else None
        if isinstance(latest_version, int) and latest_version != version:
            raise RegistryError(
                f"subject '{subject}' at {client.base_url} already holds the declared schema as version {version}, "
                f"but its latest is version {latest_version} (registered outside Pulumi), and a registry does not "
                f"make an older schema latest again. Either put the latest schema in the file, or delete the newer "
                f"version(s) (DELETE {client.base_url}/subjects/{subject}/versions/{latest_version}) and re-run",
                subject=subject,
            )
        return schema_id, version

    @staticmethod
    def _registered_version(client: RegistryClient, subject: str, schema: str) -> tuple[int, int]:
        text = minified_schema(schema)
        try:
            answer = client.register(subject, text)
        except RegistryIncompatibleError:
            # Some registries answer 409 to a schema the subject already holds.
            found = client.lookup(subject, text)
            if found is None or not isinstance(found.get("id"), int):
                raise
            return int(found["id"]), int(found["version"])
        schema_id = int(answer["id"])
        if isinstance(answer.get("version"), int):
            return schema_id, int(answer["version"])
        found = client.lookup(subject, text)
        if found is not None and isinstance(found.get("version"), int):
            return int(found.get("id", schema_id)), int(found["version"])
        # The lookup did not recognise the text: find the version holding the id.
        latest = client.get_latest(subject)
        if latest is not None and latest.get("id") == schema_id:
            return schema_id, int(latest["version"])
        for candidate in sorted(client.list_versions(subject), reverse=True):
            body = client.get_version(subject, candidate)
            if body is not None and body.get("id") == schema_id:
                return schema_id, int(body["version"])
        raise RegistryError(
            f"registered a schema for subject '{subject}' (id {schema_id}) at "
            f"{client.base_url} but found no version holding it",
            subject=subject,
        )

    @staticmethod
    def _outputs(props: dict[str, Any], schema_id: int, version: int) -> dict[str, Any]:
        return {
            "subject": props["subject"],
            "schema": props["schema"],
            "compatibility": props.get("compatibility"),
            "connection": _normalised_connection(_connection(props)),
            "hard_delete": bool(props.get("hard_delete", False)),
            "schema_id": int(schema_id),
            "version": int(version),
        }

    # ------------------------------------------------------------------ update

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        """The level first if it changed (so that a relaxed level applies to the new schema), then the new
        schema if its canonical form changed (older versions stay).
        """
        olds, news = _plain(_olds), _plain(_news)
        subject = news["subject"]
        level = news.get("compatibility")
        registered = isinstance(olds.get("schema_id"), (int, float))
        schema_changed = not registered or _canonical_of(olds) != canonical_schema(news["schema"])
        level_changed = level != olds.get("compatibility")
        schema_id, version = olds.get("schema_id"), olds.get("version")
        if level_changed or schema_changed:
            client = _client(news)
            if level_changed and level:
                client.set_compatibility(subject, level)
            if schema_changed:
                schema_id, version = self._register(client, subject, news["schema"])
        return UpdateResult(self._outputs(news, int(schema_id), int(version)))

    # -------------------------------------------------------------------- read

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """``pulumi refresh``: the latest version and the effective compatibility level.

        If the latest id/version is not the one in the state and its schema differs canonically, the
        registry's schema text, id and version become the outputs, as does a different level: refresh
        shows the drift and the next ``up`` re-sets the level and registers the declared schema. A
        registry will not make a schema it holds as an older version latest again, so that ``up`` then
        fails naming the newer version to delete (or the file to update). A subject that no longer exists
        (or is soft-deleted) reads as gone. Stacks created before a cleanup hold properties this provider
        no longer has (``schema_type``, ``topics``, ``canonical_schema``): ``check`` and ``diff`` ignore
        them, so nothing shows as changed, and the outputs written here leave them out.
        """
        props = _plain(props)
        subject = props.get("subject") or id_
        props = {**props, "subject": subject}
        client = _client(props)
        latest = client.get_latest(subject)
        if latest is None:
            return ReadResult("", {})  # gone (or soft-deleted): refresh drops it
        # Only today's outputs: keys that earlier versions wrote are dropped.
        outs = {key: props[key] for key in OUTPUT_KEYS if key in props}
        outs["connection"] = _normalised_connection(_connection(props))
        same_version = latest.get("id") == props.get("schema_id") and latest.get("version") == props.get("version")
        if not same_version:
            registry_text = latest.get("schema")
            try:
                registry_canonical = canonical_schema(registry_text)
            except (SchemaTextError, TypeError):  # not Avro (a JSON or Protobuf schema): drift too
                registry_canonical = None
            if registry_canonical is None or registry_canonical != _canonical_of(props):
                outs["schema"] = registry_text
            outs["schema_id"] = int(latest["id"])
            outs["version"] = int(latest["version"])
        level = client.get_compatibility(subject)
        if level:
            outs["compatibility"] = level
        return ReadResult(subject, outs)

    # ------------------------------------------------------------------ delete

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Soft delete (``DELETE /subjects/{s}``), or with ``hard_delete`` a soft delete then
        ``?permanent=true`` (Confluent refuses a permanent delete of a live subject). A subject already
        gone is no error.
        """
        props = _plain(_props)
        subject = props.get("subject") or _id
        _client(props).delete_subject(subject, permanent=bool(props.get("hard_delete", False)))
