"""The access matrix: every declared app against every K2 topic of a deployed stack, on the real cluster.

What each app may do is derived from the DECLARATION (its selectors over the stack's topics,
`declared_access`), never from the ACLs the plan derives, and checked against what the broker does with
real confluent-kafka clients logged in as the app: by SCRAM (tests/e2e/test_access_secure.py), by its
certificate (test_prod_mtls.py) or by its OAuth client (test_prod_oauth.py): `Login`.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import PulumiProject
from k2infra.client import AppCredentials, Platform, kafka_client_config
from k2infra.model.apps import load_apps, username_of
from k2infra.model.plan import load_plan
from k2infra.model.topology import load_topology
from tests.e2e.prod_support import CALL, STACK

WAIT = 30.0  # seconds a client gets to show one outcome (a record, an error, a throttle)
QUIET = {"log_level": 2}  # librdkafka logs refusals on stderr too; the tests read them as errors
TOPIC_REFUSED = KafkaError.TOPIC_AUTHORIZATION_FAILED
GROUP_REFUSED = KafkaError.GROUP_AUTHORIZATION_FAILED


# -- what the declaration says ----------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """One app as config/kafka/apps.yaml declares it, evaluated over the stack's topics."""

    name: str
    username: str
    reads: frozenset[str]
    writes: frozenset[str]
    group: str | None  # a consumer group id the declaration grants (None: it consumes nothing)
    groups_refused: tuple[str, ...]  # group ids close to or owned by others that it must not use
    quotas: Mapping[str, str]


def k2_topics(project: PulumiProject) -> list[str]:
    """Every hierarchical topic of the project's topology in this stack (prod manages no legacy)."""
    return sorted(t.name for t in load_plan(project.dir / "config", STACK, project.dir).topics)


def declared_access(project: PulumiProject) -> dict[str, Declared]:
    """Each app's reads and writes straight from its selectors (`Selector.means`) over the stack's
    topics: not from the ACLs the plan derives, so a wrong prefix shows up as a broker mismatch."""
    config = project.dir / "config"
    plan = load_plan(config, STACK, project.dir)
    apps = load_apps(config, load_topology(config).topology)

    def meant(selectors: Iterable) -> frozenset[str]:
        return frozenset(
            t.name for t in plan.topics for s in selectors if s.means(t.asset_class, t.data_type, t.exchange)
        )

    # A group id each app may use, and one just outside its grant.
    usable: dict[str, str | None] = {}
    near_miss: dict[str, str] = {}
    for app in apps.apps:
        if app.group is not None:  # Literal: that one id only
            usable[app.name], near_miss[app.name] = app.group, f"{app.group}-eod"
        elif app.group_prefix is not None:  # Prefixed: any id under the prefix, not the bare name
            usable[app.name], near_miss[app.name] = f"{app.group_prefix}matrix", app.group_prefix.rstrip(".")
        else:
            usable[app.name], near_miss[app.name] = None, app.name
    every_topic = frozenset(t.name for t in plan.topics)  # what the monitor (`monitors: true`) reads
    return {
        app.name: Declared(
            name=app.name,
            username=username_of(apps.principal(app, STACK)),
            reads=every_topic if app.monitors else meant(app.consumes),
            writes=meant(app.produces),
            group=usable[app.name],
            groups_refused=(
                near_miss[app.name],
                *(group for name, group in usable.items() if name != app.name and group is not None),
            ),
            quotas=app.quotas.config() if app.quotas else {},
        )
        for app in apps.apps
    }


def assert_outputs_match_the_declaration(project: PulumiProject, declared: Mapping[str, Declared]) -> None:
    """The deployed `apps` output says the same as the declaration (what apps read to connect)."""
    deployed = project.outputs()["apps"]
    assert sorted(deployed) == sorted(declared)
    for name, app in declared.items():
        assert deployed[name]["username"] == app.username, name
        assert set(deployed[name]["reads"]) == app.reads, name
        assert set(deployed[name]["writes"]) == app.writes, name
        assert deployed[name]["quotas"] == dict(app.quotas), name


# -- clients ----------------------------------------------------------------------------------------


# How an app logs in: its librdkafka settings (listener, mechanism, its own secret), by mode.
Login = Callable[[Declared], dict[str, object]]


def scram_login(secure: SecurePlatform, passwords: Mapping[str, str]) -> Login:
    """The SCRAM user of each app (its password from the stack's appPasswords) on the SASL_SSL listener."""
    return lambda app: secure.kafka_config(**{"sasl.username": app.username, "sasl.password": passwords[app.name]})


def library_login(project: PulumiProject, secure: SecurePlatform, mode: str) -> Login:
    """Each app through the client library (`kafka_client_config`): the stack's outputs plus the app's own
    certificate and key (`mode` mtls) or OAuth client (oauthbearer), made for its user name by
    `tools/platform.sh client` once per app."""
    platform = Platform.from_outputs(project.outputs())
    issued: dict[str, dict[str, str]] = {}

    def login(app: Declared) -> dict[str, object]:
        if app.name not in issued:
            issued[app.name] = secure.client(app.username)
        mine = issued[app.name]
        if mode == "mtls":
            credentials = AppCredentials(ssl_certificate=mine["K2_APP_SSL_CERTIFICATE"], ssl_key=mine["K2_APP_SSL_KEY"])
        else:
            credentials = AppCredentials(
                oauth_client_id=mine["K2_APP_OAUTH_CLIENT_ID"], oauth_client_secret=mine["K2_APP_OAUTH_CLIENT_SECRET"]
            )
        return kafka_client_config(platform, credentials)

    return login


def app_config(login: Login, app: Declared, **extra: object) -> dict[str, object]:
    return {**login(app), **QUIET, **extra}


def app_consumer(login: Login, app: Declared, group: str, **extra: object) -> Consumer:
    return Consumer(
        app_config(
            login, app, **{"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest", **extra}
        )
    )


def produce_markers(secure: SecurePlatform, topics: Iterable[str]) -> dict[str, tuple[int, bytes]]:
    """One record with a fresh key on partition 0 of each topic, as the super user: topic -> (offset, key)."""
    producer = Producer(secure.admin_config(**QUIET))
    keys = {topic: secrets.token_hex(8).encode() for topic in topics}
    offsets: dict[str, int] = {}

    def delivered(err: KafkaError | None, msg) -> None:
        assert err is None, f"the super user could not write {msg.topic()}: {err}"
        offsets[msg.topic()] = msg.offset()

    for topic, key in keys.items():
        producer.produce(topic, key=key, value=b"marker", partition=0, on_delivery=delivered)
    assert producer.flush(CALL) == 0
    return {topic: (offsets[topic], key) for topic, key in keys.items()}


def end_offsets(admin: AdminClient, topics: Iterable[str]) -> dict[str, int]:
    """The sum of the end offsets of every partition of each topic, read as the super user."""
    metadata = admin.list_topics(timeout=CALL).topics
    request = {TopicPartition(topic, p): OffsetSpec.latest() for topic in topics for p in metadata[topic].partitions}
    totals: Counter[str] = Counter()
    for tp, future in admin.list_offsets(request, request_timeout=CALL).items():
        totals[tp.topic] += future.result(timeout=CALL).offset
    return {topic: totals[topic] for topic in topics}


# -- what the broker does ---------------------------------------------------------------------------


def observed_reads(login: Login, app: Declared, markers: Mapping[str, tuple[int, bytes]]) -> dict[str, str]:
    """topic -> "read" (the app's consumer got the marker) or "refused" (TOPIC_AUTHORIZATION_FAILED).

    A consumer logged in as the app, with its declared group (any id for an app that consumes
    nothing), assigned partition 0 of every topic at its marker. A topic it may Describe but not Read
    answers the fetch with TOPIC_AUTHORIZATION_FAILED. A topic it may not even Describe is refused
    one step earlier, in the metadata: an assigned consumer then waits for a leader it may not learn
    without reporting anything (and a subscribed one reports it only once its group is granted), so
    for those the same consumer's metadata request is checked, which the broker refuses."""
    group = app.group or f"{app.name}-matrix"
    seen: dict[str, str] = {}
    unexpected: list[str] = []

    def drain(consumer: Consumer, pending: set[str], deadline: float) -> None:
        while pending - set(seen) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is None:
                if msg.key() == markers[msg.topic()][1]:
                    seen[msg.topic()] = "read"
            elif err.code() == TOPIC_REFUSED and msg.topic() in markers:
                seen.setdefault(msg.topic(), "refused")
            elif not (err.code() == GROUP_REFUSED and app.group is None):  # no group granted: expected
                unexpected.append(f"{msg.topic()}: {err.name()} {err.str()}")

    consumer = app_consumer(login, app, group)
    try:
        consumer.assign([TopicPartition(topic, 0, offset) for topic, (offset, _) in markers.items()])
        # Until every readable topic gave its marker, then a short grace period for fetch refusals
        # (they come within a second; a metadata refusal never comes here).
        drain(consumer, app.reads & set(markers), time.monotonic() + WAIT)
        drain(consumer, set(markers), time.monotonic() + 3.0)
        if app.group is not None and app.reads:
            # Offsets commit under the declared group: OffsetCommit needs Read on the group.
            read = [TopicPartition(t, 0, markers[t][0] + 1) for t in sorted(app.reads & set(markers))]
            consumer.commit(offsets=read, asynchronous=False)
            committed = consumer.committed(read, timeout=CALL)
            assert sorted((tp.topic, tp.offset) for tp in committed) == [(tp.topic, tp.offset) for tp in read]
        for topic in sorted(set(markers) - set(seen)):
            error = consumer.list_topics(topic=topic, timeout=CALL).topics[topic].error
            if error is not None and error.code() == TOPIC_REFUSED:
                seen[topic] = "refused"
    finally:
        consumer.close()
    assert not unexpected, f"{app.name}: {unexpected}"
    return seen


def observed_writes(login: Login, app: Declared, topics: Iterable[str]) -> dict[str, str]:
    """topic -> "written" or "refused" (TOPIC_AUTHORIZATION_FAILED): one record to partition 0 of
    each topic from one producer logged in as the app."""
    producer = Producer(app_config(login, app, **{"message.timeout.ms": int(WAIT * 1000)}))
    outcome: dict[str, str] = {}
    other: list[str] = []

    def delivered(err: KafkaError | None, msg) -> None:
        if err is None:
            outcome[msg.topic()] = "written"
        elif err.code() == TOPIC_REFUSED:
            outcome[msg.topic()] = "refused"
        else:
            other.append(f"{msg.topic()}: {err.name()} {err.str()}")

    for topic in topics:
        producer.produce(topic, key=app.name.encode(), value=b"matrix", partition=0, on_delivery=delivered)
    assert producer.flush(WAIT + 10) == 0, f"{app.name}: undelivered records"
    assert not other, f"{app.name}: {other}"
    return outcome


def check_the_matrix(project: PulumiProject, secure: SecurePlatform, admin: AdminClient, login: Login) -> Counter[str]:
    """Every app x every K2 topic, read and write, against the declaration, each app logged in by `login`;
    returns the counts."""
    declared = declared_access(project)
    assert_outputs_match_the_declaration(project, declared)
    topics = k2_topics(project)
    markers = produce_markers(secure, topics)
    before = end_offsets(admin, topics)
    expected: dict[tuple[str, str, str], str] = {}
    actual: dict[tuple[str, str, str], str] = {}
    for app in declared.values():
        reads = observed_reads(login, app, markers)
        writes = observed_writes(login, app, topics)
        for topic in topics:
            expected[(app.name, topic, "read")] = "read" if topic in app.reads else "refused"
            expected[(app.name, topic, "write")] = "written" if topic in app.writes else "refused"
            actual[(app.name, topic, "read")] = reads.get(topic, "no answer")
            actual[(app.name, topic, "write")] = writes.get(topic, "no answer")
    wrong = {key: (expected[key], actual[key]) for key in expected if expected[key] != actual[key]}
    assert not wrong, f"(app, topic, access) -> (declared, broker did): {wrong}"
    # Nothing landed where the broker refused: each topic grew by exactly the writes it allowed.
    after = end_offsets(admin, topics)
    allowed = Counter(topic for app in declared.values() for topic in app.writes)
    assert {t: after[t] - before[t] for t in topics} == {t: allowed[t] for t in topics}
    counts = Counter(f"{access} {outcome}" for (_, _, access), outcome in actual.items())
    print(f"\nmatrix: {len(declared)} apps x {len(topics)} topics: {dict(sorted(counts.items()))}")
    return counts
