"""Access control enforced by the broker: every declared app against every K2 topic, for real.

The module's `prod` deployment (tests/e2e/conftest.py) is the shipped `Pulumi.prod.yaml` with every
app of config/kafka/apps.yaml, on the session's secure cluster (three KRaft brokers, SASL_SSL +
SCRAM-SHA-512, StandardAuthorizer with allow.everyone.if.no.acl.found=false, the only super user
User:k2broker; k2infra deploys with its least rights, k2infra.model.infra_access). What each app may do is derived from the DECLARATION (its selectors over the stack's
topics, `declared_access`) and checked against what the broker actually does with real
confluent-kafka clients logged in as the app: reads, writes, groups, quotas; then `verify` against
ACLs changed behind the program's back; then, last because they change the deployment, adding
exchanges, lowering a quota (a plain `pulumi up`: quotas are not protected) and removing an app
as docs/runbook.md says to do it in prod.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter

import pytest
import yaml
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import PulumiFailed, PulumiProject
from k2infra.cli.observe import MONITOR_PASSWORD
from tests.e2e.access_matrix import (
    GROUP_REFUSED,
    QUIET,
    WAIT,
    Login,
    app_config,
    app_consumer,
    assert_outputs_match_the_declaration,
    check_the_matrix,
    declared_access,
    k2_topics,
    observed_writes,
    produce_markers,
    scram_login,
)
from tests.e2e.prod_support import CALL, POLICY, STACK, UNPROTECT_APP, run_k2infra, secret_env
from tests.exporter_process import ExporterProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scram(secure: SecurePlatform, app_passwords: dict[str, str]) -> Login:
    """Each app logs in as its SCRAM user (the stack's appPasswords)."""
    return scram_login(secure, app_passwords)


# -- the broker's view of quotas and users ----------------------------------------------------------


QUOTA_LINE = re.compile(r"^Quota configs for user-principal '([^']+)' are (.*)$")


def broker_user_quotas(secure: SecurePlatform, user: str | None = None) -> dict[str, dict[str, float]]:
    """user -> quota -> value, as Kafka's own kafka-configs tool describes them."""
    target = ["--entity-name", user] if user else []
    done = secure.platform_sh(
        "cli",
        "kafka-configs",
        "--bootstrap-server",
        secure.bootstrap_servers,
        "--command-config",
        str(secure.client_properties),
        "--describe",
        "--entity-type",
        "users",
        *target,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out: dict[str, dict[str, float]] = {}
    for line in done.stdout.splitlines():
        match = QUOTA_LINE.match(line.strip())
        if match:
            pairs = (item.split("=", 1) for item in match.group(2).split(", ") if "=" in item)
            out[match.group(1)] = {key: float(value) for key, value in pairs}
    return out


def project_config(project: PulumiProject) -> tuple[str, str]:
    """`verify` reads the project's copy of config/ (its topology and apps.yaml), as edited here."""
    return ("--config-dir", str(project.dir / "config"))


def as_filter(acl: AclBinding) -> AclBindingFilter:
    """The filter that matches exactly this binding (delete_acls takes filters)."""
    return AclBindingFilter(
        acl.restype, acl.name, acl.resource_pattern_type, acl.principal, acl.host, acl.operation, acl.permission_type
    )


def refusal(failed: PulumiFailed) -> str:
    """The engine's refusal in a failed run, the lines that say what it was `unable to` do and why
    (the exception's message keeps only the tail of a long output, and the engine interleaves lines)."""
    lines = [line.strip() for line in (failed.result.stdout + failed.result.stderr).splitlines()]
    said = [line for line in lines if "unable to " in line or "cannot be deleted" in line or "protect" in line]
    return "\n".join(dict.fromkeys(said))


def acls_of(admin: AdminClient, principal: str) -> list[AclBinding]:
    every = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY, AclPermissionType.ANY
    )
    return admin.describe_acls(every, request_timeout=CALL).result()


# -- the tests --------------------------------------------------------------------------------------


def test_the_deployed_apps_output_is_what_the_selectors_mean(prod: PulumiProject) -> None:
    declared = declared_access(prod)
    assert_outputs_match_the_declaration(prod, declared)
    # The shipped declaration, spelt out once, so that the derivation above cannot be vacuous.
    assert {name: (sorted(a.reads), sorted(a.writes)) for name, a in declared.items()} == {
        "market-data-normaliser": (
            [],
            [
                "market.crypto.quotes.binance",
                "market.crypto.trades.binance",
                "market.equities.quotes.asx",
                "market.equities.trades.asx",
            ],
        ),
        "equities-analytics": (
            ["market.equities.quotes.asx", "market.equities.reference_data.asx", "market.equities.trades.asx"],
            [],
        ),
        "crypto-risk": (["market.crypto.trades.binance"], []),
        "reference-data-cache": (["market.crypto.reference_data.binance", "market.equities.reference_data.asx"], []),
        "platform-monitor": (k2_topics(prod), []),
    }


def test_each_app_reads_and_writes_exactly_what_it_declares_and_is_refused_the_rest(
    prod: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient, app_passwords: dict[str, str], scram: Login
) -> None:
    counts = check_the_matrix(prod, secure, secure_admin, scram)
    # 5 apps x 6 topics: 6 reads of the consumers, 6 of the monitor and 4 writes allowed; the rest refused.
    assert counts == {"read read": 12, "read refused": 18, "write written": 4, "write refused": 26}


def test_an_idempotent_producer_needs_no_idempotent_write_on_the_cluster(
    prod: PulumiProject, secure: SecurePlatform, app_passwords: dict[str, str], scram: Login
) -> None:
    # The plan grants producers Write and Describe on topics only (KIP-679: that is enough for
    # InitProducerId); an idempotent producer is what applications are told to use.
    app = declared_access(prod)["market-data-normaliser"]
    config = app_config(scram, app, **{"enable.idempotence": True, "acks": "all"})
    producer = Producer(config)
    outcomes: list[KafkaError | None] = []
    for topic in sorted(app.writes):
        producer.produce(topic, value=b"idempotent", partition=0, on_delivery=lambda err, _: outcomes.append(err))
    assert producer.flush(WAIT) == 0
    assert outcomes == [None] * 4, outcomes


def test_a_consumer_with_a_group_it_was_not_granted_is_refused(
    prod: PulumiProject, secure: SecurePlatform, app_passwords: dict[str, str], scram: Login
) -> None:
    refused: list[tuple[str, str]] = []
    for app in declared_access(prod).values():
        topic = min(app.reads) if app.reads else "market.equities.trades.asx"
        for group in app.groups_refused:
            consumer = app_consumer(scram, app, group)
            try:
                consumer.subscribe([topic])
                error = None
                deadline = time.monotonic() + WAIT
                while error is None and time.monotonic() < deadline:
                    msg = consumer.poll(0.5)
                    if msg is not None and msg.error() is not None and msg.error().code() == GROUP_REFUSED:
                        error = msg.error()
                    elif msg is not None and msg.error() is None:
                        pytest.fail(f"{app.name} consumed {topic} in group {group!r}")
                assert error is not None, f"{app.name} in group {group!r}: no GROUP_AUTHORIZATION_FAILED"
                refused.append((app.name, group))
            finally:
                consumer.close()
    # Every app against its near miss (e.g. `crypto-risk` without the prefix's dot) and the others' groups.
    # The monitor may Describe the apps' groups, never Read one: it cannot join nor commit in any.
    assert len(refused) == 4 + 3 + 3 + 3 + 4, refused
    assert ("platform-monitor", "equities-analytics") in refused
    assert ("crypto-risk", "crypto-risk") in refused and ("equities-analytics", "equities-analytics-eod") in refused


def test_every_declared_quota_is_on_the_broker(prod: PulumiProject, secure: SecurePlatform) -> None:
    quotas = broker_user_quotas(secure)
    for app in declared_access(prod).values():
        assert quotas.get(app.username) == {k: float(v) for k, v in app.quotas.items()}, app.name


def test_a_consumer_over_its_quota_is_throttled_by_the_broker(
    prod: PulumiProject, secure: SecurePlatform, app_passwords: dict[str, str], scram: Login
) -> None:
    # reference-data-cache may fetch 1 MiB/s. Kafka measures a quota over ~10 one-second windows,
    # so reading 16 MiB as fast as the brokers serve it is over the quota within a few seconds.
    app = declared_access(prod)["reference-data-cache"]
    assert app.quotas == {"consumer_byte_rate": "1048576"}
    topic = "market.crypto.reference_data.binance"
    producer = Producer(secure.admin_config(**{"linger.ms": 20, **QUIET}))
    for i in range(64):
        producer.produce(topic, key=f"sym{i}".encode(), value=os.urandom(256 * 1024), partition=0)
        producer.poll(0)
    assert producer.flush(CALL * 2) == 0
    throttles: list[float] = []
    consumer = app_consumer(
        scram,
        app,
        app.group,
        throttle_cb=lambda event: throttles.append(event.throttle_time),
    )
    read = 0
    start = time.monotonic()
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        while not throttles and time.monotonic() - start < 60:
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is None, msg.error()
                read += len(msg.value() or b"")
    finally:
        consumer.close()
    assert throttles and max(throttles) > 0, f"read {read} bytes in {time.monotonic() - start:.1f}s, never throttled"
    print(f"\nconsumer throttled after {read / 2**20:.1f} MiB: {max(throttles) * 1000:.0f} ms")


def test_verify_names_an_acl_added_and_one_removed_behind_the_programs_back(
    prod: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient
) -> None:
    added = AclBinding(
        ResourceType.TOPIC,
        "market.equities.trades.asx",
        ResourcePatternType.LITERAL,
        "User:k2-crypto-risk-prod",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    removed = AclBinding(
        ResourceType.TOPIC,
        "market.equities.",
        ResourcePatternType.PREFIXED,
        "User:k2-equities-analytics-prod",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    for future in secure_admin.create_acls([added], request_timeout=CALL).values():
        future.result(timeout=CALL)
    deleted = secure_admin.delete_acls([as_filter(removed)], request_timeout=CALL)
    assert [len(f.result(timeout=CALL)) for f in deleted.values()] == [1]
    try:
        drift = run_k2infra(prod, "verify", *project_config(prod), env=secret_env(secure))
        assert drift.returncode == 1, drift.stdout + drift.stderr
        assert "acl_extra" in drift.stdout and "User:k2-crypto-risk-prod" in drift.stdout, drift.stdout
        assert "Read Topic market.equities.trades.asx (Literal)" in drift.stdout, drift.stdout
        assert "acl_missing" in drift.stdout and "User:k2-equities-analytics-prod" in drift.stdout, drift.stdout
        assert "Read Topic market.equities. (Prefixed)" in drift.stdout, drift.stdout
    finally:
        # Put both back as they were, whatever happened above.
        for future in secure_admin.delete_acls([as_filter(added)], request_timeout=CALL).values():
            future.result(timeout=CALL)
        for future in secure_admin.create_acls([removed], request_timeout=CALL).values():
            future.result(timeout=CALL)
    clean = run_k2infra(prod, "verify", *project_config(prod), env=secret_env(secure))
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_the_monitor_reads_lag_and_feed_age_as_its_own_user_and_is_refused_a_write(
    prod: PulumiProject, secure: SecurePlatform, app_passwords: dict[str, str], tmp_path, scram: Login
) -> None:
    declared = declared_access(prod)
    monitor, analytics = declared["platform-monitor"], declared["equities-analytics"]
    topic = "market.equities.trades.asx"
    started = time.time()
    ((offset, _),) = produce_markers(secure, [topic]).values()
    # equities-analytics commits the marker's offset: the marker is the first record it has not consumed.
    consumer = app_consumer(scram, analytics, analytics.group)
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()
    # Only the monitor's password: the stack's own user (K2_SASL_PASSWORD) may not read groups at all.
    env = {MONITOR_PASSWORD: app_passwords[monitor.name]}
    lag = run_k2infra(prod, "lag", "--app", analytics.name, "--json", *project_config(prod), env=env)
    assert lag.returncode == 1, lag.stdout + lag.stderr  # behind, with no member: a breach
    assert lag.stderr == ""
    [row] = [r for r in json.loads(lag.stdout)["rows"] if r["topic"] == topic]
    assert (row["app"], row["group"], row["state"]) == (analytics.name, analytics.group, "no_active_consumer")
    [first] = [p for p in row["partitions"] if p["partition"] == 0]
    assert first["committed"] == offset and first["end"] > offset and first["lag_records"] == first["end"] - offset
    # Dated by the marker's own timestamp, read by the monitor (Read on the topic).
    assert first["lag_seconds"] is not None and 0 <= first["lag_seconds"] <= time.time() - started + 1
    feeds = run_k2infra(prod, "feeds", "--interval", "0", "--json", *project_config(prod), env=env)
    assert feeds.returncode == 0, feeds.stdout + feeds.stderr
    ages = {r["topic"]: r["last_record_age_seconds"] for r in json.loads(feeds.stdout)["rows"]}
    assert sorted(ages) == k2_topics(prod)
    assert ages[topic] is not None and 0 <= ages[topic] <= time.time() - started + 1
    # The exporter, as the same user: up, with the group's lag and the feed's age as series.
    exporter = ExporterProcess(prod.dir, STACK, tmp_path / "exporter.log", env=env)
    asx_trades = {"exchange": "asx", "data_type": "trades"}

    def value(samples: dict, name: str, **labels: str) -> float | None:
        return next((x.value for x in samples.get(name, []) if labels.items() <= x.labels.items()), None)

    def served() -> tuple[float, float] | None:
        samples = exporter.scrape()
        if not samples or value(samples, "k2_exporter_up") != 1.0:
            return None
        lag_s = value(samples, "k2_consumer_lag_seconds", app=analytics.name, **asx_trades)
        age_s = value(samples, "k2_feed_last_record_age_seconds", **asx_trades)
        return None if lag_s is None or age_s is None else (lag_s, age_s)

    try:
        lag_s, age_s = wait_for(
            "the monitor's exporter to serve k2_exporter_up 1 and the ASX trades series", served, 90
        )
    finally:
        exporter.stop(WAIT)
    assert lag_s > 0 and age_s >= 0, (lag_s, age_s)
    # And never a write: the broker refuses its produce to a market topic.
    assert observed_writes(scram, monitor, [topic]) == {topic: "refused"}
    print(
        f"\nmonitor: lag {first['lag_seconds']:.1f}s over {first['lag_records']} records, feed age {ages[topic]:.1f}s"
    )


# -- changes to the deployment (last: they change what the tests above read) ------------------------


NEW_EXCHANGES = {
    "equities": (
        "nyse",
        {"name": "New York Stock Exchange", "partitions": 3, "country": "US", "timezone": "America/New_York"},
    ),
    "crypto": ("coinbase", {"name": "Coinbase", "partitions": 3, "timezone": "UTC"}),
}


def test_adding_exchanges_extends_exactly_the_apps_whose_selectors_cover_them(
    prod: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient, app_passwords: dict[str, str], scram: Login
) -> None:
    before = declared_access(prod)

    def add(topology: dict) -> None:
        for asset_class, (code, spec) in NEW_EXCHANGES.items():
            topology["asset_classes"][asset_class]["exchanges"][code] = spec

    prod.edit_topology(add)
    preview = prod.preview(*POLICY)
    # Six new topics and nothing else: the prefixes already grant them, no ACL changes.
    assert preview.ops() == Counter({("create", "kafka:index/topic:Topic"): 6}), preview.ops()
    prod.up(*POLICY)
    after = declared_access(prod)
    gained = {name: sorted(after[name].reads - before[name].reads) for name in after}
    assert gained == {
        "market-data-normaliser": [],  # names its exchanges: never gains one
        "equities-analytics": [
            "market.equities.quotes.nyse",
            "market.equities.reference_data.nyse",
            "market.equities.trades.nyse",
        ],
        "crypto-risk": ["market.crypto.trades.coinbase"],
        "reference-data-cache": ["market.crypto.reference_data.coinbase", "market.equities.reference_data.nyse"],
        "platform-monitor": sorted(set(k2_topics(prod)) - before["platform-monitor"].reads),  # all six
    }
    assert len(gained["platform-monitor"]) == 6
    assert all(after[name].writes == before[name].writes for name in after)
    counts = check_the_matrix(prod, secure, secure_admin, scram)
    assert counts == {"read read": 24, "read refused": 36, "write written": 4, "write refused": 56}


def state_urns(project: PulumiProject) -> list[str]:
    return re.findall(r"URN: (urn:pulumi:\S+)", project.run("stack", "--show-urns").stdout)


def protected(project: PulumiProject) -> set[str]:
    state = json.loads(project.export())
    return {r["urn"] for r in state["deployment"]["resources"] if r.get("protect")}


def edit_apps(project: PulumiProject, change) -> None:
    path = project.dir / "config" / "kafka" / "apps.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_lowered_quota_applies_with_a_plain_up_and_throttles_the_producer(
    prod: PulumiProject, secure: SecurePlatform, app_passwords: dict[str, str], scram: Login
) -> None:
    app = declared_access(prod)["market-data-normaliser"]
    lowered = 102400  # 100 KiB/s

    def lower(data: dict) -> None:
        data["apps"][app.name]["quotas"]["producer_byte_rate"] = lowered

    edit_apps(prod, lower)
    # pulumi-kafka replaces a Quota on a config change; prod leaves quotas unprotected (its ACLs
    # and SCRAM users stay protected), so the change is one `pulumi up`, deleting the old first.
    urn = next(u for u in state_urns(prod) if u.endswith(f"::quota:{app.username}"))
    assert urn not in protected(prod)
    prod.up(*POLICY)
    assert broker_user_quotas(secure, app.username)[app.username] == {
        "producer_byte_rate": float(lowered),
        "request_percentage": 200.0,
    }
    assert urn in state_urns(prod) and urn not in protected(prod)
    # 3 MiB as fast as the producer can: over 100 KiB/s measured over ~10 s, so throttled.
    throttles: list[float] = []
    producer = Producer(
        app_config(
            scram,
            app,
            **{"linger.ms": 20, "throttle_cb": lambda event: throttles.append(event.throttle_time)},
        )
    )
    start = time.monotonic()
    for i in range(48):
        producer.produce("market.crypto.trades.binance", key=f"s{i}".encode(), value=os.urandom(64 * 1024), partition=0)
        producer.poll(0)
    while not throttles and time.monotonic() - start < 60:
        producer.poll(0.5)
    assert producer.flush(60) == 0
    assert throttles and max(throttles) > 0, "never throttled"
    print(f"\nproducer throttled: {max(throttles) * 1000:.0f} ms at {lowered} B/s")


def test_removing_an_app_in_prod_removes_its_acls_quota_and_credential_and_its_client_is_refused(
    prod: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient, app_passwords: dict[str, str], scram: Login
) -> None:
    app = declared_access(prod)["crypto-risk"]
    principal = f"User:{app.username}"
    assert acls_of(secure_admin, principal)
    edit_apps(prod, lambda data: data["apps"].pop(app.name))
    # Prod protects the app's resources: a plain `pulumi up` refuses to delete them and changes nothing.
    with pytest.raises(PulumiFailed) as refused:
        prod.up(*POLICY)
    assert "cannot be deleted" in refusal(refused.value), refusal(refused.value)
    assert "because it is protected" in refusal(refused.value), refusal(refused.value)
    print("\napp removal refused: " + next(x for x in refusal(refused.value).splitlines() if "error:" in x))
    assert len(acls_of(secure_admin, principal)) == 3
    # Its quota is unprotected but waits for the protected credential: still there.
    assert app.username in broker_user_quotas(secure)
    # The runbook's procedure: unprotect exactly that app's resources, then `pulumi up`.
    ours = [u for u in state_urns(prod) if app.username in u]
    done = subprocess.run(
        ["bash", "-c", UNPROTECT_APP],
        cwd=prod.dir,
        env={**prod.env, "K2_APP_USER": app.username},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(ours) == 3 + 2 and not set(ours) & protected(prod)
    assert all(app.username not in u for u in protected(prod)) and len(protected(prod)) > 0
    prod.up(*POLICY)
    assert acls_of(secure_admin, principal) == []
    described = secure_admin.describe_user_scram_credentials([app.username], request_timeout=CALL)
    with pytest.raises(KafkaException) as gone:
        described[app.username].result(timeout=CALL)
    assert gone.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    assert app.username not in broker_user_quotas(secure)
    # The next connection with its old password fails SASL authentication.
    errors: list[KafkaError] = []
    client = Producer(app_config(scram, app, error_cb=errors.append))
    deadline = time.monotonic() + WAIT
    while not errors and time.monotonic() < deadline:
        client.poll(0.5)
    assert errors and errors[0].code() == KafkaError._AUTHENTICATION, errors
    assert "SASL authentication error" in errors[0].str()
    # The other apps are untouched: verify of the new declaration finds nothing different.
    clean = run_k2infra(prod, "verify", *project_config(prod), env=secret_env(secure))
    assert clean.returncode == 0, clean.stdout + clean.stderr
