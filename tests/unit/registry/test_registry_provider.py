"""The dynamic provider's lifecycle methods against the in-process fake registry.

Property bags are shaped as the Pulumi engine hands them to a dynamic provider:
``check`` gets old *inputs*, ``diff``/``update`` get old *outputs*, ``read`` and
``delete`` get the stored outputs, and every bag carries ``__provider``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import subprocess
import sys
import time

import dill
import pytest
import requests
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown

from k2infra.model.avro_canonical import canonical_schema
from k2infra.registry.client import (
    RegistryAuthError,
    RegistryError,
    RegistryIncompatibleError,
    RegistryInvalidSchemaError,
    RegistryNotFoundError,
    RegistryUnavailableError,
)
from k2infra.registry.provider import OUTPUT_KEYS, SchemaRegistryProvider

SUBJECT = "market.equities.trades-value"
PASSWORD = "pa55-w0rd-XYZ"
TOKEN = "tok-ABC-123456"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

TRADE_V1 = {
    "type": "record",
    "name": "Trade",
    "namespace": "k2.market.equities",
    "fields": [
        {"name": "symbol", "type": "string"},
        {"name": "price", "type": "double"},
    ],
}
TRADE_V2_COMPATIBLE = copy.deepcopy(TRADE_V1)
TRADE_V2_COMPATIBLE["fields"].append({"name": "venue", "type": ["null", "string"], "default": None})
TRADE_V2_INCOMPATIBLE = copy.deepcopy(TRADE_V1)
TRADE_V2_INCOMPATIBLE["fields"].append({"name": "venue", "type": "string"})


def avsc(schema: dict, indent: int | None = 2) -> str:
    return json.dumps(schema, indent=indent)


def inputs(fake, schema: object = TRADE_V1, **over) -> dict:
    connection = {"url": fake.url if fake is not None else "http://127.0.0.1:9"}
    connection.update(over.pop("connection", {}))
    bag = {
        "subject": SUBJECT,
        "schema": avsc(schema) if isinstance(schema, dict) else schema,
        "compatibility": "BACKWARD",
        "connection": connection,
        "hard_delete": False,
        "__provider": "c2VyaWFsaXplZA==",
    }
    bag.update(over)
    return bag


def state(result) -> dict:
    """Outputs as the engine stores them (plus the serialized provider)."""
    return {**result.outs, "__provider": "c2VyaWFsaXplZA=="}


# What a stack deployed before the cleanup holds: the program passed schema_type "AVRO" (and, in
# earlier versions, the subject's topics); the provider echoed them and added canonical_schema.
# RegistryConnection also had timeout and retry options (never set by the program).
def legacy_inputs() -> dict:
    return {"schema_type": "AVRO", "topics": ["market.equities.trades.asx"]}


def legacy_connection() -> dict:
    return {"connect_timeout": 5.0, "read_timeout": 30.0, "max_retries": 4.0, "retry_backoff": 0.5}


def old_inputs(fake, schema: object = TRADE_V1, **over) -> dict:
    bag = inputs(fake, schema, **over)
    return {**bag, **legacy_inputs(), "connection": {**bag["connection"], **legacy_connection()}}


def old_state(fake) -> dict:
    """The subject registered, and the outputs as the provider before the cleanup stored them."""
    outs = state(_created(fake))
    return {
        **outs,
        **legacy_inputs(),
        "connection": {**outs["connection"], **legacy_connection()},
        "canonical_schema": canonical_schema(outs["schema"]),
    }


@pytest.fixture
def provider():
    return SchemaRegistryProvider()


@pytest.fixture
def no_http(monkeypatch):
    """Call it to make any further HTTP call fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected HTTP call: {args[1:3]}")

    def block() -> None:
        monkeypatch.setattr(requests.Session, "request", refuse)

    return block


# ------------------------------------------------------------------ create


def test_create_sets_level_registers_and_outputs(provider, fake_registry):
    result = provider.create(inputs(fake_registry))
    assert result.id == SUBJECT
    assert result.outs == {
        "subject": SUBJECT,
        "schema": avsc(TRADE_V1),
        "compatibility": "BACKWARD",
        "connection": {"url": fake_registry.url},
        "hard_delete": False,
        "schema_id": 1,
        "version": 1,
    }
    assert tuple(result.outs) == OUTPUT_KEYS
    assert fake_registry.subject_config[SUBJECT] == "BACKWARD"
    assert fake_registry.live_versions(SUBJECT) == [1]
    methods = [(c.method, c.path.rsplit("/", 1)[-1]) for c in fake_registry.calls()]
    assert methods[:2] == [("PUT", SUBJECT), ("POST", "versions")]
    # the registry receives the schema without whitespace, as Avro (no schemaType)
    assert fake_registry.calls("POST", "/versions")[0].body == {"schema": json.dumps(TRADE_V1, separators=(",", ":"))}


def test_create_is_idempotent(provider, fake_registry):
    first = provider.create(inputs(fake_registry))
    again = provider.create(inputs(fake_registry, avsc(TRADE_V1, indent=8)))  # re-run after an interruption
    assert (again.outs["schema_id"], again.outs["version"]) == (first.outs["schema_id"], first.outs["version"])
    assert fake_registry.live_versions(SUBJECT) == [1]


def test_create_adopts_when_the_registry_answers_409_for_a_duplicate(provider, fake_registry):
    fake_registry.seed(SUBJECT, avsc(TRADE_V1, None))
    fake_registry.duplicate_409 = True
    result = provider.create(inputs(fake_registry))
    assert (result.outs["schema_id"], result.outs["version"]) == (1, 1)
    assert fake_registry.live_versions(SUBJECT) == [1]


def test_create_refuses_a_schema_the_subject_holds_only_as_an_older_version(provider, fake_registry):
    fake_registry.seed(SUBJECT, avsc(TRADE_V1))
    fake_registry.seed(SUBJECT, avsc(TRADE_V2_COMPATIBLE))
    with pytest.raises(RegistryError) as info:
        provider.create(inputs(fake_registry))
    assert f"subject '{SUBJECT}'" in str(info.value)
    assert "as version 1, but its latest is version 2" in str(info.value)
    assert fake_registry.live_versions(SUBJECT) == [1, 2]


def test_create_on_a_registry_that_needs_the_subject_before_its_config(provider, apicurio_like):
    result = provider.create(inputs(apicurio_like, compatibility="FULL"))
    assert result.outs["version"] == 1
    assert apicurio_like.subject_config[SUBJECT] == "FULL"
    assert [c.method for c in apicurio_like.calls()][:3] == ["PUT", "POST", "POST"]
    assert apicurio_like.calls()[-1].method == "PUT"


def test_create_incompatible_with_what_the_subject_holds(provider, fake_registry):
    fake_registry.seed(SUBJECT, avsc(TRADE_V1))
    with pytest.raises(RegistryIncompatibleError) as info:
        provider.create(inputs(fake_registry, TRADE_V2_INCOMPATIBLE))
    assert SUBJECT in str(info.value) and "READER_FIELD_MISSING_DEFAULT_VALUE" in str(info.value)
    assert fake_registry.live_versions(SUBJECT) == [1]


def test_create_retries_503_then_succeeds(provider, fake_registry):
    fake_registry.fail("POST", "/versions", 503, times=2)
    result = provider.create(inputs(fake_registry))
    assert result.outs["version"] == 1
    assert len(fake_registry.calls("POST", "/versions")) == 3
    assert fake_registry.live_versions(SUBJECT) == [1]


def test_create_retries_are_bounded(provider, fake_registry):
    """The client's defaults: 4 retries, at most 0 + 1.5 + 2.5 + 4.5 seconds of backoff."""
    fake_registry.fail("POST", "/versions", 503, times=99, body={"error_code": 50301, "message": "down"})
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError) as info:
        provider.create(inputs(fake_registry))
    assert time.monotonic() - started < 15
    assert "after 5 attempts: HTTP 503 (error_code 50301): down" in str(info.value) and SUBJECT in str(info.value)
    assert len(fake_registry.calls("POST", "/versions")) == 5


# -------------------------------------------------------------------- diff


def test_reformatted_schema_is_no_diff_and_no_http(provider, fake_registry, no_http):
    olds = state(_created(fake_registry))
    fake_registry.clear_log()
    no_http()
    reformatted = json.loads(json.dumps(TRADE_V1))
    reformatted = {"fields": reformatted["fields"], "name": "k2.market.equities.Trade", "type": "record"}
    news = inputs(fake_registry, json.dumps(reformatted, separators=(",", ":")))
    news["connection"]["url"] = fake_registry.url + "/"  # a trailing slash is the same URL
    result = provider.diff(SUBJECT, olds, news)
    assert result.changes is False and result.replaces == []
    assert fake_registry.calls() == []


@pytest.mark.parametrize(
    "change, replaces",
    [
        (dict(schema=avsc(TRADE_V2_COMPATIBLE)), []),
        (dict(compatibility="FULL"), []),
        (dict(hard_delete=True), []),
        (dict(connection={"password": PASSWORD, "username": "svc"}), []),
        (dict(subject="market.equities.trades2-value"), ["subject"]),
    ],
    ids=["schema", "compatibility", "hard_delete", "credentials", "subject"],
)
def test_diff_changes(provider, fake_registry, change, replaces, no_http):
    olds = state(_created(fake_registry))
    fake_registry.clear_log()
    no_http()
    result = provider.diff(SUBJECT, olds, inputs(fake_registry, **change))
    assert result.changes is True
    assert result.replaces == replaces
    assert fake_registry.calls() == []


def test_diff_with_unknown_schema_during_preview(provider, fake_registry, no_http):
    olds = state(_created(fake_registry))
    no_http()
    result = provider.diff(SUBJECT, olds, inputs(fake_registry, schema=Unknown()))
    assert result.changes is True and result.replaces == []


# ------------------------------------------------------------------- check


def test_check_unchanged_makes_no_http_call(provider, fake_registry, no_http):
    old_inputs = inputs(fake_registry)
    no_http()
    result = provider.check(old_inputs, inputs(fake_registry, avsc(TRADE_V1, indent=None)))
    assert result.failures == []
    assert result.inputs["schema"] == avsc(TRADE_V1, indent=None)


def test_check_compatible_change_asks_the_registry_and_registers_nothing(provider, fake_registry):
    _created(fake_registry)
    fake_registry.clear_log()
    result = provider.check(inputs(fake_registry), inputs(fake_registry, TRADE_V2_COMPATIBLE))
    assert result.failures == []
    calls = fake_registry.calls()
    assert [(c.method, c.query) for c in calls] == [("POST", {"verbose": "true"})]
    assert calls[0].path.endswith(f"/compatibility/subjects/{SUBJECT}/versions/latest")
    assert fake_registry.live_versions(SUBJECT) == [1]


def test_check_incompatible_change_fails_with_subject_and_reasons(provider, fake_registry):
    _created(fake_registry)
    result = provider.check(inputs(fake_registry), inputs(fake_registry, TRADE_V2_INCOMPATIBLE))
    assert len(result.failures) == 1
    failure = result.failures[0]
    assert failure.property == ""  # reported against the resource
    assert SUBJECT in failure.reason and "incompatible" in failure.reason
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in failure.reason and "venue" in failure.reason
    assert fake_registry.live_versions(SUBJECT) == [1]


def test_check_incompatible_without_verbose_support(provider, fake_registry):
    _created(fake_registry)
    fake_registry.verbose_unsupported = True
    result = provider.check(inputs(fake_registry), inputs(fake_registry, TRADE_V2_INCOMPATIBLE))
    assert len(result.failures) == 1
    reason = result.failures[0].reason
    assert SUBJECT in reason and "gave no reasons" in reason
    assert "changes from latest version 1 (local analysis): field 'venue' added without a default" in reason


def test_check_of_a_new_subject_is_compatible(provider, fake_registry):
    result = provider.check({}, inputs(fake_registry))
    assert result.failures == []
    assert len(fake_registry.calls("POST", "/compatibility/")) == 1


def test_check_of_an_adopted_incompatible_subject_fails(provider, fake_registry):
    fake_registry.seed(SUBJECT, avsc(TRADE_V1))
    result = provider.check({}, inputs(fake_registry, TRADE_V2_INCOMPATIBLE))
    assert result.failures and SUBJECT in result.failures[0].reason


@pytest.mark.parametrize(
    "over",
    [
        dict(schema=Unknown()),
        dict(connection={"url": Unknown()}),
        dict(connection={"password": Unknown(), "username": "svc"}),
        dict(compatibility="NONE"),
    ],
    ids=["unknown schema", "unknown url", "unknown password", "level NONE"],
)
def test_check_skips_the_registry(provider, fake_registry, over, no_http):
    no_http()
    result = provider.check(inputs(fake_registry), inputs(fake_registry, **{"schema": TRADE_V2_INCOMPATIBLE, **over}))
    assert result.failures == []


def test_check_skips_the_registry_when_the_level_changes_too(provider, fake_registry, no_http):
    no_http()
    result = provider.check(
        inputs(fake_registry), inputs(fake_registry, TRADE_V2_INCOMPATIBLE, compatibility="FORWARD")
    )
    assert result.failures == []


@pytest.mark.parametrize(
    "over, prop, fragment",
    [
        (dict(schema='{"type": "record"'), "schema", "not valid JSON"),
        (
            dict(schema='{"type": "record", "name": "T", "fields": [{"name": "a", "type": "strin"}]}'),
            "schema",
            "not a valid Avro schema",
        ),
        (dict(compatibility="backwards"), "compatibility", "is not one of"),
        (dict(subject=""), "subject", "non-empty"),
        (dict(connection={"url": "localhost:8081"}), "connection", "http(s) URL"),
        (dict(connection={"url": "http://a:8081,reg:8081"}), "connection", "http(s) URL"),
        (dict(connection={"url": f"http://svc:{PASSWORD}@reg:8081"}), "connection", "contains credentials"),
        (
            dict(connection={"username": "svc", "password": PASSWORD, "token": TOKEN}),
            "connection",
            "both basic auth and a token",
        ),
        (dict(hard_delete="yes"), "hard_delete", "true or false"),
    ],
)
def test_check_validates_without_the_network(provider, fake_registry, over, prop, fragment, no_http):
    no_http()
    result = provider.check({}, inputs(fake_registry, **over))
    assert [f.property for f in result.failures] == [prop]
    assert fragment in result.failures[0].reason
    assert PASSWORD not in result.failures[0].reason and TOKEN not in result.failures[0].reason


def test_a_changed_schema_is_checked_on_the_node_that_answers(provider, fake_registry):
    _created(fake_registry)
    down = "http://127.0.0.1:9"
    nodes = {"url": f"{down},{fake_registry.url}"}
    result = provider.check(
        inputs(fake_registry, connection=nodes), inputs(fake_registry, TRADE_V2_COMPATIBLE, connection=nodes)
    )
    assert result.failures == []
    assert fake_registry.calls("POST", "/compatibility/")


def test_a_single_url_keeps_its_state_form_and_a_list_is_stored_normalised(provider, fake_registry):
    single = provider.create(inputs(fake_registry, connection={"url": fake_registry.url + "/"}))
    assert single.outs["connection"] == {"url": fake_registry.url}
    listed = provider.diff(
        SUBJECT, single.outs, inputs(fake_registry, connection={"url": f"{fake_registry.url}/ , http://b:1"})
    )
    assert listed.changes  # a node added is a connection change (read and delete use the stored list)


def test_check_reports_an_unreachable_registry_for_a_changed_schema(provider):
    result = provider.check(inputs(None), inputs(None, TRADE_V2_COMPATIBLE))
    assert len(result.failures) == 1
    reason = result.failures[0].reason
    assert "could not check compatibility" in reason and SUBJECT in reason and "unreachable" in reason
    assert "on each of 2 attempts" in reason  # check retries once: previews stay quick


def test_check_retries_once(provider, fake_registry):
    _created(fake_registry)
    fake_registry.fail("POST", "/compatibility/", 503, times=99, body={"error_code": 50301, "message": "busy"})
    result = provider.check(inputs(fake_registry), inputs(fake_registry, TRADE_V2_COMPATIBLE))
    [failure] = result.failures
    assert f"could not check compatibility of subject '{SUBJECT}'" in failure.reason
    assert "after 2 attempts: HTTP 503 (error_code 50301): busy" in failure.reason
    assert len(fake_registry.calls("POST", "/compatibility/")) == 2


def test_check_of_a_new_subject_tolerates_an_unreachable_registry(provider):
    """The registry may be created in the same deployment; the create reports it if still down."""
    assert provider.check({}, inputs(None)).failures == []


def test_check_reports_auth_failures_even_for_a_new_subject(provider, fake_registry):
    fake_registry.auth = ("bearer", "right")
    result = provider.check({}, inputs(fake_registry, connection={"token": TOKEN}))
    assert len(result.failures) == 1
    assert "authentication failed" in result.failures[0].reason and TOKEN not in result.failures[0].reason


# ------------------------------------------------------------------ update


def test_update_compatible_registers_a_new_version(provider, fake_registry):
    olds = state(_created(fake_registry))
    result = provider.update(SUBJECT, olds, inputs(fake_registry, TRADE_V2_COMPATIBLE))
    assert result.outs["version"] == 2 and result.outs["schema_id"] == 2
    assert fake_registry.live_versions(SUBJECT) == [1, 2]  # old versions stay
    assert fake_registry.calls("PUT") == [fake_registry.calls("PUT")[0]]  # level unchanged: set once at create


def test_update_incompatible_fails(provider, fake_registry):
    olds = state(_created(fake_registry))
    with pytest.raises(RegistryIncompatibleError) as info:
        provider.update(SUBJECT, olds, inputs(fake_registry, TRADE_V2_INCOMPATIBLE))
    assert SUBJECT in str(info.value) and "venue" in str(info.value)
    assert fake_registry.live_versions(SUBJECT) == [1]


def test_update_level_only(provider, fake_registry):
    olds = state(_created(fake_registry))
    fake_registry.clear_log()
    result = provider.update(SUBJECT, olds, inputs(fake_registry, compatibility="FULL_TRANSITIVE"))
    assert result.outs["compatibility"] == "FULL_TRANSITIVE" and result.outs["version"] == 1
    assert [c.method for c in fake_registry.calls()] == ["PUT"]
    assert fake_registry.subject_config[SUBJECT] == "FULL_TRANSITIVE"


def test_update_level_and_schema_sets_level_first(provider, fake_registry):
    olds = state(_created(fake_registry))
    fake_registry.clear_log()
    result = provider.update(SUBJECT, olds, inputs(fake_registry, TRADE_V2_INCOMPATIBLE, compatibility="NONE"))
    assert result.outs["version"] == 2
    assert [c.method for c in fake_registry.calls()][:2] == ["PUT", "POST"]


def test_update_of_credentials_only_makes_no_http_call(provider, fake_registry, no_http):
    olds = state(_created(fake_registry))
    no_http()
    news = inputs(fake_registry, connection={"username": "svc", "password": PASSWORD})
    result = provider.update(SUBJECT, olds, news)
    assert result.outs["connection"]["password"] == PASSWORD
    assert (result.outs["schema_id"], result.outs["version"]) == (1, 1)


# -------------------------------------------------------------------- read


def test_read_without_drift(provider, fake_registry):
    outs = state(_created(fake_registry))
    result = provider.read(SUBJECT, outs)
    assert result.id == SUBJECT
    expected = {k: v for k, v in outs.items() if k != "__provider"}
    assert result.outs == expected
    # and the next diff is empty
    assert provider.diff(SUBJECT, {**result.outs}, inputs(fake_registry)).changes is False


def test_read_reports_schema_drift(provider, fake_registry):
    outs = state(_created(fake_registry))
    drifted = json.dumps(TRADE_V2_COMPATIBLE)
    fake_registry.seed(SUBJECT, drifted)  # registered outside Pulumi
    result = provider.read(SUBJECT, outs)
    assert result.outs["version"] == 2 and result.outs["schema_id"] == 2
    assert result.outs["schema"] == drifted
    # the next `pulumi up` sees the difference against the program's schema ...
    assert provider.diff(SUBJECT, result.outs, inputs(fake_registry)).changes is True
    # ... and, since a registry will not make the older schema latest again, says how to converge
    with pytest.raises(RegistryError, match="as version 1, but its latest is version 2"):
        provider.update(SUBJECT, result.outs, inputs(fake_registry))


def test_read_same_content_new_version_is_not_schema_drift(provider, fake_registry):
    outs = state(_created(fake_registry))
    fake_registry.subjects[SUBJECT].append({**fake_registry.subjects[SUBJECT][0], "version": 2})
    result = provider.read(SUBJECT, outs)
    assert result.outs["version"] == 2 and result.outs["schema"] == outs["schema"]
    assert provider.diff(SUBJECT, result.outs, inputs(fake_registry)).changes is False


def test_read_reports_compatibility_drift(provider, fake_registry):
    outs = state(_created(fake_registry))
    fake_registry.subject_config[SUBJECT] = "NONE"
    result = provider.read(SUBJECT, outs)
    assert result.outs["compatibility"] == "NONE"
    assert provider.diff(SUBJECT, result.outs, inputs(fake_registry)).changes is True


def test_read_reports_a_schema_of_another_type_as_drift(provider, fake_registry):
    outs = state(_created(fake_registry))
    proto = 'syntax = "proto3";\nmessage Trade { string symbol = 1; }\n'
    fake_registry.seed(SUBJECT, proto, schema_type="PROTOBUF")  # registered outside Pulumi
    result = provider.read(SUBJECT, outs)
    assert (result.outs["version"], result.outs["schema_id"], result.outs["schema"]) == (2, 2, proto)
    assert provider.diff(SUBJECT, result.outs, inputs(fake_registry)).changes is True


def test_read_of_a_deleted_subject_reads_as_gone(provider, fake_registry):
    outs = state(_created(fake_registry))
    fake_registry.subjects.clear()
    result = provider.read(SUBJECT, outs)
    assert result.id == "" and result.outs == {}


# ------------------------------------------------------------------ delete


def test_soft_delete(provider, fake_registry):
    outs = state(_created(fake_registry))
    fake_registry.clear_log()
    provider.delete(SUBJECT, outs)
    assert [(c.method, c.query) for c in fake_registry.calls()] == [("DELETE", {})]
    assert all(v["deleted"] for v in fake_registry.subjects[SUBJECT])


def test_hard_delete(provider, fake_registry):
    outs = state(_created(fake_registry, hard_delete=True))
    fake_registry.clear_log()
    provider.delete(SUBJECT, outs)
    assert [(c.method, c.query) for c in fake_registry.calls()] == [
        ("DELETE", {}),
        ("DELETE", {"permanent": "true"}),
    ]
    assert SUBJECT not in fake_registry.subjects


@pytest.mark.parametrize("hard_delete", [False, True], ids=["soft", "hard"])
def test_delete_of_a_missing_subject_is_not_an_error(provider, fake_registry, hard_delete):
    outs = state(_created(fake_registry, hard_delete=hard_delete))
    fake_registry.subjects.clear()
    fake_registry.clear_log()
    provider.delete(SUBJECT, outs)
    # one soft delete, answered 40401 "subject not found": nothing more is asked, even for a hard delete
    [sent] = fake_registry.calls()
    assert (sent.method, sent.path, sent.query) == ("DELETE", f"/subjects/{SUBJECT}", {})
    assert fake_registry.subjects == {}


def test_hard_delete_of_a_soft_deleted_subject(provider, fake_registry):
    outs = state(_created(fake_registry))
    provider.delete(SUBJECT, outs)
    fake_registry.clear_log()
    provider.delete(SUBJECT, {**outs, "hard_delete": True})
    # the soft delete answers 40404 "soft-deleted": the permanent delete follows
    assert [(c.method, c.query) for c in fake_registry.calls()] == [("DELETE", {}), ("DELETE", {"permanent": "true"})]
    assert SUBJECT not in fake_registry.subjects


def test_delete_with_a_wrong_base_url_is_an_error(provider, apicurio_like):
    outs = state(_created(apicurio_like))
    outs["connection"]["url"] = apicurio_like.url.replace("/apis/ccompat/v7", "")
    with pytest.raises(RegistryNotFoundError, match="base URL"):
        provider.delete(SUBJECT, outs)


# ------------------------------------------------------------ error codes


@pytest.mark.parametrize(
    "status, error, fragment",
    [
        (401, RegistryAuthError, "authentication failed"),
        (403, RegistryAuthError, "denied access"),
        (404, RegistryNotFoundError, "subject not found"),
        (409, RegistryIncompatibleError, "incompatible"),
        (422, RegistryInvalidSchemaError, "invalid"),
    ],
)
def test_error_codes_name_subject_and_url_but_no_credential(provider, fake_registry, status, error, fragment):
    body = {"error_code": 40401 if status == 404 else status * 100 + 1, "message": f"registry says {status}"}
    fake_registry.fail("POST", "/versions", status, body=body)
    with pytest.raises(error) as info:
        provider.create(inputs(fake_registry, connection={"username": "svc", "password": PASSWORD}))
    message = str(info.value)
    assert fragment in message and SUBJECT in message and fake_registry.url in message
    assert f"registry says {status}" in message
    assert PASSWORD not in message and PASSWORD not in repr(info.value)
    basic = base64.b64encode(f"svc:{PASSWORD}".encode()).decode()
    assert basic not in message


# ------------------------------------------- state written before the cleanup


def test_a_stack_written_before_the_cleanup_shows_no_change(provider, fake_registry, no_http):
    """`pulumi up` over an old stack: check and diff ignore the removed inputs and outputs."""
    olds = old_state(fake_registry)
    no_http()
    checked = provider.check(old_inputs(fake_registry), inputs(fake_registry))
    assert checked.failures == []
    assert checked.inputs == inputs(fake_registry)
    diff = provider.diff(SUBJECT, olds, inputs(fake_registry))
    assert (diff.changes, diff.replaces) == (False, [])


def test_a_change_to_a_stack_written_before_the_cleanup_is_an_update_in_place(provider, fake_registry):
    olds = old_state(fake_registry)
    news = inputs(fake_registry, TRADE_V2_COMPATIBLE)
    fake_registry.clear_log()
    assert provider.check(old_inputs(fake_registry), news).failures == []
    diff = provider.diff(SUBJECT, olds, news)
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, [], False)
    result = provider.update(SUBJECT, olds, news)
    assert tuple(result.outs) == OUTPUT_KEYS  # the old outputs are gone from the state
    assert (result.outs["schema_id"], result.outs["version"]) == (2, 2)
    assert result.outs["connection"] == {"url": fake_registry.url}
    assert fake_registry.live_versions(SUBJECT) == [1, 2]
    assert fake_registry.calls("PUT") == []  # level unchanged
    assert fake_registry.calls("DELETE") == []


def test_refresh_of_a_stack_written_before_the_cleanup_drops_the_old_outputs(provider, fake_registry):
    olds = old_state(fake_registry)
    fake_registry.clear_log()
    result = provider.read(SUBJECT, olds)
    assert result.id == SUBJECT
    assert result.outs == {**{k: olds[k] for k in OUTPUT_KEYS}, "connection": {"url": fake_registry.url}}
    assert {c.method for c in fake_registry.calls()} == {"GET"}
    assert provider.diff(SUBJECT, result.outs, inputs(fake_registry)).changes is False


def test_destroy_of_a_stack_written_before_the_cleanup(provider, fake_registry):
    olds = old_state(fake_registry)
    fake_registry.clear_log()
    provider.delete(SUBJECT, olds)
    assert [(c.method, c.path, c.query) for c in fake_registry.calls()] == [("DELETE", f"/subjects/{SUBJECT}", {})]
    assert fake_registry.live_versions(SUBJECT) == []


# ---------------------------------------------------------------- pickling


def test_provider_pickles_and_holds_no_credentials(provider, fake_registry):
    # use the provider with credentials first: nothing may stick to it
    fake_registry.auth = ("basic", "svc", PASSWORD)
    provider.create(inputs(fake_registry, connection={"username": "svc", "password": PASSWORD}))
    assert vars(provider) == {}
    for blob in (dill.dumps(provider, recurse=True), pickle.dumps(provider)):
        assert PASSWORD.encode() not in blob
        assert isinstance(dill.loads(blob), SchemaRegistryProvider)
    # exactly what Pulumi stores in the state as __provider
    serialized = serialize_provider(provider)
    blob = base64.b64decode(serialized)
    assert PASSWORD.encode() not in blob and b"k2infra.registry.provider" in blob
    assert len(blob) < 500  # a reference to the class, not its code
    restored = dill.loads(blob)
    assert isinstance(restored, SchemaRegistryProvider)
    assert (
        restored.create(inputs(fake_registry, connection={"username": "svc", "password": PASSWORD})).outs["version"]
        == 1
    )


def test_serialized_provider_loads_in_a_fresh_process_from_the_project_dir():
    """The provider process runs `python -m pulumi.dynamic` with the project dir as cwd."""
    serialized = serialize_provider(SchemaRegistryProvider())
    code = (
        "import base64, sys, dill; "
        "p = dill.loads(base64.b64decode(sys.argv[1])); "
        "print(type(p).__module__, type(p).__name__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code, serialized],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["k2infra.registry.provider", "SchemaRegistryProvider"]


# ----------------------------------------------------------------- helpers


def _created(fake, **over):
    return SchemaRegistryProvider().create(inputs(fake, **over))
