"""The Schema Registry dynamic provider against the real local registry (Apicurio, ccompat v7).

Each test calls ``SchemaRegistryProvider`` methods directly, as the Pulumi engine would: every property
bag goes through the same protobuf ``Struct`` round trip as in the dynamic provider host (numbers arrive
as floats, ``None`` values are dropped, ``__provider`` is present), ``check`` gets old *inputs*,
``diff``/``update`` the stored *outputs*, ``read``/``delete`` the stored outputs.  What the registry
holds afterwards is checked with the project's registry client.

Subjects are named ``market.it<random>.<random>.trades-value``: unique per run, so nothing that exists on
the platform is ever touched; each test hard-deletes its subject, and the module sweeps the run's
prefix at the end.
"""

from __future__ import annotations

import copy
import json
import secrets
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from devkit.local_platform import LocalPlatform
from k2infra.model.avro_canonical import canonical_schema, minified_schema
from k2infra.registry.client import RegistryClient, RegistryError, RegistryIncompatibleError, RegistryNotFoundError
from k2infra.registry.provider import OUTPUT_KEYS, SchemaRegistryProvider

pytestmark = pytest.mark.integration

TOPIC = "market.equities.trades.asx"
PROVIDER = serialize_provider(SchemaRegistryProvider())

TRADE_V1 = {
    "type": "record",
    "name": "Trade",
    "namespace": "k2.market.equities",
    "doc": "One trade on an equities venue.",
    "fields": [
        {"name": "symbol", "type": "string"},
        {"name": "price", "type": "double"},
        {"name": "quantity", "type": "long"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}
TRADE_V2_COMPATIBLE = copy.deepcopy(TRADE_V1)
TRADE_V2_COMPATIBLE["fields"].append({"name": "venue", "type": ["null", "string"], "default": None})
TRADE_V2_INCOMPATIBLE = copy.deepcopy(TRADE_V1)
TRADE_V2_INCOMPATIBLE["fields"].append({"name": "venue", "type": "string"})  # required, no default


def avsc(schema: dict[str, Any], indent: int | None = 2) -> str:
    return json.dumps(schema, indent=indent)


def reformatted(schema: dict[str, Any]) -> str:
    """The same schema with other whitespace and every object's keys in reverse order."""

    def reverse(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: reverse(node[k]) for k in reversed(list(node))}
        if isinstance(node, list):
            return [reverse(v) for v in node]
        return node

    return json.dumps(reverse(schema), indent=7, separators=(" ,", " :  "))


def wire(bag: dict[str, Any]) -> dict[str, Any]:
    """``bag`` as the dynamic provider host hands it over (protobuf Struct, then deserialize_properties)."""
    struct = struct_pb2.Struct()
    struct.update(bag)
    return rpc.deserialize_properties(struct)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(platform: LocalPlatform) -> RegistryClient:
    return RegistryClient(platform.schema_registry_url, read_timeout=30)


@pytest.fixture(scope="module")
def run_prefix(registry: RegistryClient) -> Iterator[str]:
    """``market.it<random>.``: this run's subjects; every one left is hard-deleted at the end."""
    prefix = f"market.it{secrets.token_hex(4)}."
    assert not [s for s in registry.list_subjects(include_deleted=True) if s.startswith(prefix)]
    yield prefix
    for name in registry.list_subjects(include_deleted=True):
        if name.startswith(prefix):
            registry.delete_subject(name, permanent=True)
    assert not [s for s in registry.list_subjects(include_deleted=True) if s.startswith(prefix)]


@pytest.fixture
def subject(run_prefix: str, registry: RegistryClient) -> Iterator[str]:
    name = f"{run_prefix}{secrets.token_hex(3)}.trades-value"
    yield name
    registry.delete_subject(name, permanent=True)


@pytest.fixture
def provider() -> SchemaRegistryProvider:
    return SchemaRegistryProvider()


@pytest.fixture
def inputs(platform: LocalPlatform, subject: str):
    """Build the resource inputs of ``subject`` (engine-shaped), with overrides."""

    def build(schema: dict[str, Any] | str = TRADE_V1, **over: Any) -> dict[str, Any]:
        connection = {"url": platform.schema_registry_url}
        connection.update(over.pop("connection", {}))
        bag = {
            "subject": subject,
            "schema": avsc(schema) if isinstance(schema, dict) else schema,
            "compatibility": "BACKWARD",
            "connection": connection,
            "hard_delete": False,
            "__provider": PROVIDER,
        }
        bag.update(over)
        return wire(bag)

    return build


def stored(outs: dict[str, Any]) -> dict[str, Any]:
    """Outputs as the engine stores them and hands them back (to diff, update, read, delete)."""
    return wire({**outs, "__provider": PROVIDER})


@pytest.fixture
def http_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every HTTP request made from here on, as (method, path); requests still go out."""
    seen: list[tuple[str, str]] = []
    original = requests.Session.request

    def counting(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        seen.append((method, urlsplit(url).path))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", counting)
    return seen


def subject_level(platform: LocalPlatform, subject: str) -> requests.Response:
    """``GET /config/{subject}`` without ``defaultToGlobal``: the subject's own level, or 404."""
    return requests.get(f"{platform.schema_registry_url}/config/{subject}", timeout=30)


# -- create ---------------------------------------------------------------------------------------


def test_create_sets_the_level_and_registers_version_1(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, platform: LocalPlatform, subject: str
) -> None:
    result = provider.create(inputs())

    assert result.id == subject
    outs = result.outs
    assert tuple(outs) == OUTPUT_KEYS
    assert isinstance(outs["schema_id"], int) and outs["version"] == 1
    assert (outs["subject"], outs["compatibility"], outs["hard_delete"]) == (subject, "BACKWARD", False)
    assert outs["schema"] == avsc(TRADE_V1)
    assert outs["connection"] == {"url": platform.schema_registry_url}

    assert registry.list_versions(subject) == [1]
    latest = registry.get_latest(subject)
    assert latest is not None
    assert (latest["id"], latest["version"]) == (outs["schema_id"], 1)
    assert latest["schema"] == minified_schema(avsc(TRADE_V1))  # sent without whitespace
    assert registry.get_compatibility(subject) == "BACKWARD"
    # the subject's own level, not the global one (Apicurio's global default is NONE)
    own = subject_level(platform, subject)
    assert (own.status_code, own.json()) == (200, {"compatibilityLevel": "BACKWARD"})
    assert registry.lookup(subject, avsc(TRADE_V1)) == latest


def test_create_again_with_the_same_schema_adopts_the_same_id_and_version(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    first = provider.create(inputs()).outs
    # an interrupted `pulumi up` re-runs the create: same text, then the text reformatted
    again = provider.create(inputs()).outs
    reformatted_again = provider.create(inputs(reformatted(TRADE_V1))).outs

    assert (again["schema_id"], again["version"]) == (first["schema_id"], 1)
    assert (reformatted_again["schema_id"], reformatted_again["version"]) == (first["schema_id"], 1)
    assert registry.list_versions(subject) == [1]
    assert registry.get_compatibility(subject) == "BACKWARD"


def test_create_after_a_soft_deleting_destroy_registers_a_live_version(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    first = provider.create(inputs()).outs
    provider.delete(subject, stored(first))  # `pulumi destroy` with hard_delete false

    again = provider.create(inputs()).outs

    # Apicurio continues the version numbers of the soft-deleted versions and reuses the content id
    assert (again["schema_id"], again["version"]) == (first["schema_id"], 2)
    assert registry.list_versions(subject) == [2]
    assert subject in registry.list_subjects()
    refreshed = provider.read(subject, stored(again))
    assert refreshed.id == subject
    assert {k: refreshed.outs[k] for k in ("schema_id", "version", "schema", "compatibility")} == {
        k: again[k] for k in ("schema_id", "version", "schema", "compatibility")
    }


# -- diff -----------------------------------------------------------------------------------------


def test_a_reformatted_schema_diffs_as_no_change_without_any_http_call(
    provider: SchemaRegistryProvider, inputs, http_calls: list[tuple[str, str]], subject: str
) -> None:
    state = stored(provider.create(inputs()).outs)
    assert http_calls  # the counter sees the provider's requests
    http_calls.clear()

    unchanged = provider.diff(subject, state, inputs(reformatted(TRADE_V1)))
    changed = provider.diff(subject, state, inputs(TRADE_V2_COMPATIBLE))
    relevelled = provider.diff(subject, state, inputs(compatibility="FULL"))

    assert (unchanged.changes, unchanged.replaces) == (False, [])
    assert (changed.changes, changed.replaces) == (True, [])
    assert (relevelled.changes, relevelled.replaces) == (True, [])
    assert http_calls == []


# -- check and update -----------------------------------------------------------------------------


def test_a_compatible_change_passes_check_and_update_registers_version_2(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, http_calls: list[tuple[str, str]], subject: str
) -> None:
    old_inputs = inputs()
    state = stored(provider.create(old_inputs).outs)
    v1 = registry.get_latest(subject)
    assert v1 is not None
    news = inputs(TRADE_V2_COMPATIBLE)

    http_calls.clear()
    checked = provider.check(old_inputs, news)
    assert checked.failures == []
    assert checked.inputs == news
    assert [c for c in http_calls if c[1].startswith(urlsplit(registry.base_url).path + "/compatibility/")]

    updated = provider.update(subject, state, news).outs

    assert updated["version"] == 2
    assert updated["schema_id"] != v1["id"]
    assert updated["schema"] == avsc(TRADE_V2_COMPATIBLE)
    assert registry.list_versions(subject) == [1, 2]
    assert registry.get_version(subject, 1) == v1  # version 1 stays as it was
    latest = registry.get_latest(subject)
    assert latest is not None
    assert (latest["id"], latest["version"]) == (updated["schema_id"], 2)
    assert canonical_schema(latest["schema"]) == canonical_schema(avsc(TRADE_V2_COMPATIBLE))
    assert registry.get_compatibility(subject) == "BACKWARD"


def test_an_update_of_the_level_alone_sets_it_and_registers_nothing(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    created = provider.create(inputs()).outs

    updated = provider.update(subject, stored(created), inputs(compatibility="FULL")).outs

    assert (updated["compatibility"], updated["schema_id"], updated["version"]) == ("FULL", created["schema_id"], 1)
    assert registry.get_compatibility(subject) == "FULL"
    assert registry.list_versions(subject) == [1]


def test_an_incompatible_change_fails_check_naming_the_subject_and_the_reason(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    old_inputs = inputs()
    provider.create(old_inputs)
    before = registry.get_latest(subject)

    checked = provider.check(old_inputs, inputs(TRADE_V2_INCOMPATIBLE))

    [failure] = checked.failures
    assert failure.property == ""
    assert f"subject '{subject}'" in failure.reason
    assert "incompatible" in failure.reason and "compatibility BACKWARD" in failure.reason
    # Apicurio gives no reasons: the provider's local analysis names the change
    assert "field 'venue' added without a default" in failure.reason
    assert registry.list_versions(subject) == [1]
    assert registry.get_latest(subject) == before


def test_an_incompatible_schema_that_reaches_update_is_refused_by_the_registry(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, http_calls: list[tuple[str, str]], subject: str
) -> None:
    """A level change in the same update skips the remote check; the registry still refuses (409)."""
    old_inputs = inputs()
    state = stored(provider.create(old_inputs).outs)
    news = inputs(TRADE_V2_INCOMPATIBLE, compatibility="FULL")

    http_calls.clear()
    assert provider.check(old_inputs, news).failures == []
    assert http_calls == []
    with pytest.raises(RegistryIncompatibleError) as refused:
        provider.update(subject, state, news)

    assert f"subject '{subject}'" in str(refused.value) and "incompatible" in str(refused.value)
    assert refused.value.status == 409
    assert registry.list_versions(subject) == [1]


# -- read (refresh) -------------------------------------------------------------------------------


def test_read_reports_a_compatibility_level_changed_behind_its_back(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    created = provider.create(inputs()).outs
    clean = provider.read(subject, stored(created))
    assert clean.id == subject
    assert {k: v for k, v in clean.outs.items() if k != "__provider"} == wire(created)

    registry.set_compatibility(subject, "FORWARD")
    drifted = provider.read(subject, stored(created))

    assert drifted.id == subject
    assert drifted.outs["compatibility"] == "FORWARD"
    assert (drifted.outs["schema_id"], drifted.outs["version"]) == (created["schema_id"], 1)
    assert drifted.outs["schema"] == created["schema"]


def test_read_reports_a_version_registered_behind_its_back(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    declared = inputs()
    created = provider.create(declared).outs
    behind = registry.register(subject, minified_schema(avsc(TRADE_V2_COMPATIBLE)))

    drifted = provider.read(subject, stored(created)).outs

    assert (drifted["schema_id"], drifted["version"]) == (behind["id"], 2)
    assert canonical_schema(drifted["schema"]) == canonical_schema(avsc(TRADE_V2_COMPATIBLE))
    assert drifted["compatibility"] == "BACKWARD"
    # the next `up` sees the declared schema as a change
    assert provider.diff(subject, stored(drifted), declared).changes is True


def test_an_up_back_to_an_older_schema_is_refused_with_the_way_out(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    """A registry cannot make an older schema latest again, so after a version registered behind
    Pulumi's back the next ``up`` fails and says how to converge, rather than report the old
    version as current (which every refresh would then show as drift again)."""
    declared = inputs()
    created = provider.create(declared).outs
    registry.register(subject, minified_schema(avsc(TRADE_V2_COMPATIBLE)))
    drifted = stored(provider.read(subject, stored(created)).outs)

    with pytest.raises(RegistryError) as caught:
        provider.update(subject, drifted, declared)
    message = str(caught.value)
    assert f"subject '{subject}'" in message
    assert "as version 1, but its latest is version 2" in message
    assert f"/subjects/{subject}/versions/2" in message
    assert registry.list_versions(subject) == [1, 2]


def test_read_of_a_subject_deleted_behind_its_back_reports_it_gone(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    state = stored(provider.create(inputs()).outs)

    assert registry.delete_subject(subject)  # soft
    soft = provider.read(subject, state)
    assert (soft.id, soft.outs) == ("", {})

    assert registry.delete_subject(subject, permanent=True)
    hard = provider.read(subject, state)
    assert (hard.id, hard.outs) == ("", {})


# -- delete ---------------------------------------------------------------------------------------


def test_delete_soft_deletes_by_default(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, platform: LocalPlatform, subject: str
) -> None:
    state = stored(provider.create(inputs()).outs)

    provider.delete(subject, state)

    assert subject not in registry.list_subjects()
    assert subject in registry.list_subjects(include_deleted=True)
    assert registry.get_latest(subject) is None
    versions = requests.get(f"{platform.schema_registry_url}/subjects/{subject}/versions?deleted=true", timeout=30)
    assert (versions.status_code, versions.json()) == (200, [1])
    provider.delete(subject, state)  # again: already soft-deleted, no error
    assert subject in registry.list_subjects(include_deleted=True)


def test_hard_delete_removes_the_subject_entirely(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, platform: LocalPlatform, subject: str
) -> None:
    state = stored(provider.create(inputs(hard_delete=True)).outs)
    assert state["hard_delete"] is True

    provider.delete(subject, state)

    assert subject not in registry.list_subjects(include_deleted=True)
    versions = requests.get(f"{platform.schema_registry_url}/subjects/{subject}/versions?deleted=true", timeout=30)
    assert (versions.status_code, versions.json()["error_code"]) == (404, 40401)
    assert subject_level(platform, subject).status_code == 404  # its level is gone too


def test_hard_delete_of_a_subject_soft_deleted_behind_its_back_removes_it(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, subject: str
) -> None:
    state = stored(provider.create(inputs(hard_delete=True)).outs)
    assert registry.delete_subject(subject)

    provider.delete(subject, state)

    assert subject not in registry.list_subjects(include_deleted=True)


@pytest.mark.parametrize("hard_delete", [False, True], ids=["soft", "hard"])
def test_delete_of_a_missing_subject_is_fine(
    provider: SchemaRegistryProvider,
    inputs,
    registry: RegistryClient,
    http_calls: list[tuple[str, str]],
    subject: str,
    hard_delete: bool,
) -> None:
    state = stored({**inputs(hard_delete=hard_delete), "schema_id": 1, "version": 1})

    provider.delete(subject, state)

    # one soft delete, which the registry answers "subject not found": nothing more is sent
    assert http_calls == [("DELETE", f"{urlsplit(registry.base_url).path}/subjects/{subject}")]
    assert subject not in registry.list_subjects(include_deleted=True)


# -- a wrong base URL -----------------------------------------------------------------------------


def test_a_wrong_base_url_gives_the_404_hint(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, platform: LocalPlatform, subject: str
) -> None:
    """The registry's root instead of <root>/apis/ccompat/v7: Quarkus answers 404 without an error_code."""
    wrong = inputs(connection={"url": platform.registry_base_url})
    hint = "the base URL is probably wrong"
    # the preview of a new subject already says so (an unreachable registry would pass, a 404 does not)
    [failure] = provider.check({}, wrong).failures
    assert f"could not check compatibility of subject '{subject}'" in failure.reason and hint in failure.reason

    with pytest.raises(RegistryNotFoundError) as created:
        provider.create(wrong)
    message = str(created.value)
    assert hint in message and f"subject '{subject}'" in message
    assert "Apicurio: http://host:8080/apis/ccompat/v7" in message
    assert f"{platform.registry_base_url}/config/" in message
    assert subject not in registry.list_subjects(include_deleted=True)

    # read and delete must not mistake a wrong URL for a deleted subject
    state = stored({**provider.create(inputs()).outs, "connection": wrong["connection"]})
    with pytest.raises(RegistryNotFoundError, match=hint):
        provider.read(subject, state)
    with pytest.raises(RegistryNotFoundError, match=hint):
        provider.delete(subject, state)
    assert registry.list_versions(subject) == [1]

    changed = provider.check(wrong, inputs(TRADE_V2_COMPATIBLE, connection={"url": platform.registry_base_url}))
    [failure] = changed.failures
    assert f"could not check compatibility of subject '{subject}'" in failure.reason and hint in failure.reason


def test_an_unreachable_registry_fails_the_create_naming_subject_and_url(
    provider: SchemaRegistryProvider, inputs, subject: str
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/apis/ccompat/v7"
    with pytest.raises(RegistryError, match="unreachable") as failed:
        provider.create(inputs(connection={"url": url}))
    assert f"subject '{subject}'" in str(failed.value) and url in str(failed.value)
    assert "on each of 5 attempts" in str(failed.value)  # the client's bounded retries


# -- state written before the cleanup -------------------------------------------------------------


def test_a_stack_written_before_the_cleanup_converges_without_a_replace(
    provider: SchemaRegistryProvider, inputs, registry: RegistryClient, http_calls: list[tuple[str, str]], subject: str
) -> None:
    """Old stacks hold schema_type, topics and canonical_schema (and could hold connection timeouts)."""
    legacy_connection = {"connect_timeout": 5, "read_timeout": 30, "max_retries": 4, "retry_backoff": 0.5}

    def old(bag: dict[str, Any]) -> dict[str, Any]:
        return wire(
            {
                **bag,
                "schema_type": "AVRO",
                "topics": [TOPIC],
                "connection": {**bag["connection"], **legacy_connection},
            }
        )

    old_inputs = old(inputs())
    created = provider.create(inputs()).outs
    old_state = stored({**old(created), "canonical_schema": canonical_schema(created["schema"])})

    http_calls.clear()
    assert provider.check(old_inputs, inputs()).failures == []
    same = provider.diff(subject, old_state, inputs())
    assert (same.changes, same.replaces) == (False, [])
    assert http_calls == []

    refreshed = provider.read(subject, old_state)
    assert refreshed.outs == wire(created)  # the old outputs are dropped, nothing else changes
    assert {method for method, _ in http_calls} == {"GET"}

    relevelled = provider.diff(subject, old_state, inputs(compatibility="FULL"))
    assert (relevelled.changes, relevelled.replaces) == (True, [])
    updated = provider.update(subject, old_state, inputs(compatibility="FULL")).outs
    assert tuple(updated) == OUTPUT_KEYS
    assert (updated["schema_id"], updated["version"]) == (created["schema_id"], 1)
    assert registry.get_compatibility(subject) == "FULL"
    assert registry.list_versions(subject) == [1]
