"""The Kafka provider's access-control resources against a real broker, through the real Pulumi CLI.

`kafka.Acl`, `kafka.Quota` and `kafka.UserScramCredential` (pulumi-kafka 3.13.3 SDK) need a broker
with an authorizer, which the shared local platform does not have. So this module starts its own
single-node KRaft broker (Kafka jars from `tools/platform.sh install kafka`) with the
StandardAuthorizer and two listeners on loopback:

* PLAINTEXT: the principal is User:ANONYMOUS, a super user. Pulumi and the checks use it.
* SASL_PLAINTEXT with SCRAM-SHA-256/512: for logging in with the credentials Pulumi creates,
  which proves that they work and that the ACLs are enforced.

The provider plugin is built from tools/kafka-provider (this checkout) and installed into a
private PULUMI_HOME, so the test runs the code under test, not whatever plugin is installed. A
tiny inline Pulumi program (JSON spec + secret config) is driven through create, no-op
preview/refresh, in-place update and replacements, drift repair, import by upstream's ID
formats, and destroy; each step is checked from outside with confluent-kafka's AdminClient and
Kafka's own kafka-configs tool (kafka.admin.ConfigCommand).

Missing tools (java, go, the Pulumi CLI) are a failure, never a skip: `make test` builds them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from tests.conftest import REPO

pytestmark = pytest.mark.integration

KAFKA_VERSION = os.environ.get("K2_KAFKA_VERSION", "3.9.2")
TOOLS_DIR = Path(os.environ.get("K2_TOOLS_DIR", Path.home() / ".cache" / "k2infra" / "tools"))
PLUGIN_VERSION = "3.13.3+k2infra"
PASSPHRASE = "k2-provider-access-test"
STACK = "access"
PROVIDER = f"kafka=urn:pulumi:{STACK}::kafka-provider-access::pulumi:providers:kafka::kafka"
# Passwords the test sets; none of them may ever appear in plaintext in the state or CLI output.
ALICE_PW = "alice-Pw-6c1e0f"
ALICE_PW2 = "alice-Pw2-93bd27"
BOB_PW = "bob-PwWo-51aa80"
CAROL_PW = "carol-Pw-0d4f2e"
ALL_PASSWORDS = (ALICE_PW, ALICE_PW2, BOB_PW, CAROL_PW)


# -- the broker ------------------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def java_binary() -> str:
    for candidate in (
        os.environ.get("K2_JAVA"),
        os.path.join(os.environ.get("JAVA_HOME", "/nonexistent"), "bin/java"),
        shutil.which("java"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("no java on PATH (Kafka needs Java >= 17; set K2_JAVA)")


@dataclass
class AuthzBroker:
    plain: str  # PLAINTEXT host:port, principal User:ANONYMOUS (super user)
    sasl: str  # SASL_PLAINTEXT host:port, SCRAM-SHA-256/512
    home: Path
    java: str
    dir: Path
    _admin: AdminClient | None = None

    def admin(self) -> AdminClient:
        # One client for the module: a client that is garbage-collected fails its pending futures.
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.plain, "log_level": 3})
        return self._admin

    def scram_admin(self, user: str, password: str, mechanism: str = "SCRAM-SHA-256") -> AdminClient:
        return AdminClient(
            {
                "bootstrap.servers": self.sasl,
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": mechanism,
                "sasl.username": user,
                "sasl.password": password,
                "log_level": 0,  # failed logins are expected; the test looks at the result
            }
        )

    def kafka_configs(self, *args: str) -> str:
        """Kafka's own kafka-configs tool (an independent client) against the PLAINTEXT listener."""
        result = subprocess.run(
            [
                self.java,
                "-Xmx128m",
                "-XX:TieredStopAtLevel=1",
                f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
                "-cp",
                f"{self.home / 'libs'}/*",
                "kafka.admin.ConfigCommand",
                "--bootstrap-server",
                self.plain,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"kafka-configs {args} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout


SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs={data}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
log.segment.bytes=16777216
"""

LOG4J = """\
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthzBroker]:
    install = subprocess.run(
        ["bash", str(REPO / "tools" / "platform.sh"), "install", "kafka"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "K2_KAFKA_VERSION": KAFKA_VERSION},
    )
    assert install.returncode == 0, f"tools/platform.sh install kafka failed:\n{install.stdout}\n{install.stderr}"
    home = TOOLS_DIR / f"kafka-{KAFKA_VERSION}"
    assert (home / "libs").is_dir(), f"{home}/libs missing after tools/platform.sh install kafka"
    java = java_binary()
    d = tmp_path_factory.mktemp("authz-broker")
    plain, sasl, controller = free_ports(3)
    (d / "server.properties").write_text(
        SERVER_PROPERTIES.format(plain=plain, sasl=sasl, controller=controller, data=d / "data")
    )
    (d / "log4j.properties").write_text(LOG4J.format(log=d / "kafka.log"))
    common = [
        f"-Dlog4j.configuration=file:{d / 'log4j.properties'}",
        f"-Djava.io.tmpdir={d}",
        "-cp",
        f"{home / 'libs'}/*",
    ]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=").replace("-", "A")
    fmt = subprocess.run(
        [
            java,
            "-Xmx256m",
            *common,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(d / "server.properties"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert fmt.returncode == 0, f"kafka storage format failed:\n{fmt.stdout}\n{fmt.stderr}"
    out = open(d / "kafka.out", "w")  # noqa: SIM115 -- lives as long as the broker
    proc = subprocess.Popen(
        [
            java,
            "-Xms128m",
            "-Xmx512m",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            *common,
            "kafka.Kafka",
            str(d / "server.properties"),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    b = AuthzBroker(plain=f"127.0.0.1:{plain}", sasl=f"127.0.0.1:{sasl}", home=home, java=java, dir=d)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"kafka exited with {proc.returncode}:\n{(d / 'kafka.out').read_text()[-4000:]}")
            try:
                b.admin().list_topics(timeout=2)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    pytest.fail(f"kafka not ready within 180s:\n{(d / 'kafka.log').read_text()[-4000:]}")
                time.sleep(0.5)
        yield b
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        out.close()


# -- the provider and the Pulumi project -------------------------------------------------------------


@pytest.fixture(scope="module")
def pulumi_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private PULUMI_HOME with the plugin built from this checkout."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        pytest.fail("the Pulumi CLI is not on PATH: run `make tools` (or `source tools/env.sh`)")
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not on PATH: the provider plugin is built from tools/kafka-provider")
    d = tmp_path_factory.mktemp("pulumi-home")
    binary = d / "build" / "pulumi-resource-kafka"
    build = subprocess.run(
        [go, "build", "-ldflags", f"-X main.version={PLUGIN_VERSION}", "-o", str(binary), "."],
        cwd=REPO / "tools" / "kafka-provider",
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "GOFLAGS": "-buildvcs=false"},
    )
    assert build.returncode == 0, f"go build failed:\n{build.stderr}"
    home = d / "home"
    inst = subprocess.run(
        [pulumi, "plugin", "install", "resource", "kafka", PLUGIN_VERSION, "--file", str(binary)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PULUMI_HOME": str(home), "PULUMI_SKIP_UPDATE_CHECK": "true"},
    )
    assert inst.returncode == 0, f"plugin install failed:\n{inst.stdout}\n{inst.stderr}"
    return home


PROGRAM = """\
import json

import pulumi
import pulumi_kafka as kafka

spec = json.load(open("spec.json"))
cfg = pulumi.Config()
provider = kafka.Provider("kafka", bootstrap_servers=[spec["bootstrap"]], tls_enabled=False, timeout=60)
opts = pulumi.ResourceOptions(provider=provider)
topic = kafka.Topic("orders", name="orders", partitions=1, replication_factor=1, opts=opts)
for name, args in spec["acls"].items():
    kafka.Acl(name, **args, opts=pulumi.ResourceOptions(provider=provider, depends_on=[topic]))
for name, args in spec["quotas"].items():
    kafka.Quota(name, **args, opts=opts)
for name, args in spec["scram"].items():
    args = dict(args)
    for key in ("password", "password_wo"):
        if key in args:
            args[key] = cfg.require_secret(args[key])  # the name of a secret config key
    kafka.UserScramCredential(name, **args, opts=opts)
"""


class PulumiError(AssertionError):
    pass


@dataclass
class Project:
    dir: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["pulumi", *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise PulumiError(
                f"pulumi {' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout[-6000:]}"
                f"\n--- stderr\n{result.stderr[-4000:]}"
            )
        for pw in ALL_PASSWORDS:
            assert pw not in result.stdout and pw not in result.stderr, f"pulumi {args[0]} printed a password"
        return result

    def write_spec(self, spec: dict[str, Any]) -> None:
        (self.dir / "spec.json").write_text(json.dumps(spec, indent=1))

    def up(self) -> str:
        return self.run("up", "--yes", "--skip-preview", "--diff").stdout

    def export(self) -> dict[str, Any]:
        text = self.run("stack", "export").stdout
        for pw in ALL_PASSWORDS:
            assert pw not in text, "a password is in the state in plaintext"
        return json.loads(text)

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        """name -> state resource of a type."""
        return {r["urn"].rsplit("::", 1)[1]: r for r in self.export()["deployment"]["resources"] if r["type"] == type_}

    def preview_ops(self) -> dict[str, str]:
        """resource name -> operation of `pulumi preview --json` (same when unchanged)."""
        data = json.loads(self.run("preview", "--json").stdout)
        ops: dict[str, str] = {}
        for step in data.get("steps", []):
            name = step["urn"].rsplit("::", 1)[1]
            op = step["op"]
            if op in ("replace", "create-replacement", "delete-replaced"):
                op = "replace"
            if ops.get(name, "same") == "same" or op == "replace":
                ops[name] = op
        return ops


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, pulumi_home: Path, broker: AuthzBroker) -> Iterator[Project]:
    d = tmp_path_factory.mktemp("access-project")
    (d / "Pulumi.yaml").write_text(
        json.dumps(
            {
                "name": "kafka-provider-access",
                "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}},
            }
        )
    )
    (d / "__main__.py").write_text(PROGRAM)
    backend = d / "backend"
    backend.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_") or k == "PULUMI_SKIP_UPDATE_CHECK"}
    env.update(
        PULUMI_HOME=str(pulumi_home),
        PULUMI_BACKEND_URL=f"file://{backend}",
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_SKIP_CONFIRMATIONS="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    p = Project(d, env)
    p.run("stack", "init", STACK)
    for key, value in (("alicePassword", ALICE_PW), ("bobPassword", BOB_PW), ("carolPassword", CAROL_PW)):
        p.run("config", "set", "--secret", key, value)
    try:
        yield p
    finally:
        # After a failure the stack may be half gone; the broker goes away with its temp dir anyway.
        with contextlib.suppress(PulumiError):
            p.run("destroy", "--yes", "--skip-preview")


# -- checks from outside ------------------------------------------------------------------------------


def acls(broker: AuthzBroker, principal: str) -> set[tuple[str, str, str, str, str, str]]:
    """(principal, host, operation, permission, resource type, name, pattern) of a principal's ACLs."""
    f = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY, AclPermissionType.ANY
    )
    found = broker.admin().describe_acls(f, request_timeout=30).result()
    return {
        (b.host, b.operation.name, b.permission_type.name, b.restype.name, b.name, b.resource_pattern_type.name)
        for b in found
    }


def scram(broker: AuthzBroker, user: str) -> dict[str, int]:
    """mechanism -> iterations of a user's SCRAM credentials ({} when there are none)."""
    try:
        desc = broker.admin().describe_user_scram_credentials([user], request_timeout=30)[user].result()
    except KafkaException as e:
        if "RESOURCE_NOT_FOUND" in str(e) or "not found" in str(e).lower():
            return {}
        raise
    return {i.mechanism.name: i.iterations for i in desc.scram_credential_infos}


def can_login(broker: AuthzBroker, user: str, password: str, mechanism: str) -> set[str] | None:
    """The topics a SCRAM login sees, or None when authentication fails."""
    try:
        md = broker.scram_admin(user, password, mechanism).list_topics(timeout=10)
    except KafkaException as e:
        if "auth" in str(e).lower() or "_TRANSPORT" in str(e) or "timed out" in str(e).lower():
            return None
        raise
    return set(md.topics)


def wait_all(futures: dict[Any, Any]) -> None:
    """Wait for every future of a confluent-kafka admin call (they come keyed by their input)."""
    for future in futures.values():
        future.result()


def wait_until(what: str, cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.5)


def quota_lines(broker: AuthzBroker, entity_type: str, name: str | None) -> str:
    target = ["--entity-name", name] if name else ["--entity-default"]
    return broker.kafka_configs("--describe", "--entity-type", entity_type, *target)


# -- the test -------------------------------------------------------------------------------------------


def base_spec(broker: AuthzBroker) -> dict[str, Any]:
    return {
        "bootstrap": broker.plain,
        "acls": {
            "alice-read": dict(
                acl_principal="User:alice",
                acl_host="*",
                acl_operation="Read",
                acl_permission_type="Allow",
                acl_resource_name="orders",
                acl_resource_type="Topic",
            ),
            "alice-group": dict(
                acl_principal="User:alice",
                acl_host="*",
                acl_operation="Read",
                acl_permission_type="Allow",
                acl_resource_name="order-",
                acl_resource_type="Group",
                resource_pattern_type_filter="Prefixed",
            ),
            "bob-deny": dict(
                acl_principal="User:bob",
                acl_host="*",
                acl_operation="Describe",
                acl_permission_type="Deny",
                acl_resource_name="orders",
                acl_resource_type="Topic",
            ),
        },
        "quotas": {
            "mobile": dict(
                entity_type="client-id",
                entity_name="mobile-app",
                config={"producer_byte_rate": "2500000", "consumer_byte_rate": "5000000"},
            ),
            "default-user": dict(entity_type="user", config={"request_percentage": "100"}),
        },
        "scram": {
            "alice": dict(
                username="alice", scram_mechanism="SCRAM-SHA-256", scram_iterations=8192, password="alicePassword"
            ),
            "bob": dict(
                username="bob", scram_mechanism="SCRAM-SHA-512", password_wo="bobPassword", password_wo_version="1"
            ),
        },
    }


def test_access_resources_lifecycle(broker: AuthzBroker, project: Project) -> None:
    spec = base_spec(broker)
    project.write_spec(spec)

    # 1. create
    project.up()
    assert acls(broker, "User:alice") == {
        ("*", "READ", "ALLOW", "TOPIC", "orders", "LITERAL"),
        ("*", "READ", "ALLOW", "GROUP", "order-", "PREFIXED"),
    }
    assert acls(broker, "User:bob") == {("*", "DESCRIBE", "DENY", "TOPIC", "orders", "LITERAL")}
    assert scram(broker, "alice") == {"SCRAM_SHA_256": 8192}
    assert scram(broker, "bob") == {"SCRAM_SHA_512": 4096}
    assert "producer_byte_rate=2500000" in quota_lines(broker, "clients", "mobile-app")
    assert "request_percentage=100" in quota_lines(broker, "users", None)
    # The credentials work and the ACLs are enforced: alice reads orders, bob is denied it.
    assert can_login(broker, "alice", ALICE_PW, "SCRAM-SHA-256") == {"orders"}
    assert can_login(broker, "bob", BOB_PW, "SCRAM-SHA-512") == set()
    assert can_login(broker, "alice", "wrong", "SCRAM-SHA-256") is None
    # IDs in upstream's formats; passwords secret (export() asserts no plaintext); passwordWo write-only.
    state = project.resources("kafka:index/acl:Acl")
    assert state["alice-group"]["id"] == "User:alice|*|Read|Allow|Group|order-|Prefixed"
    assert state["alice-read"]["outputs"]["resourcePatternTypeFilter"] == "Literal"
    assert project.resources("kafka:index/quota:Quota")["default-user"]["id"] == "user:"
    creds = project.resources("kafka:index/userScramCredential:UserScramCredential")
    assert creds["alice"]["id"] == "alice|SCRAM-SHA-256"
    assert (
        creds["alice"]["outputs"]["password"].get("4dabf18193072939515e22adb298388d")
        == "1b47061264138c4ac30d75fd1eb44270"
    )
    assert "passwordWo" not in creds["bob"]["outputs"]

    # 2. nothing to do: preview and refresh agree with what Kafka holds
    project.run("preview", "--expect-no-changes")
    project.run("refresh", "--yes", "--expect-no-changes")

    # 3. changes: a password (in place), quota config and an ACL operation (replacements), a
    #    write-only password through its version (in place)
    spec["scram"]["alice"]["password"] = "alicePassword2"
    project.run("config", "set", "--secret", "alicePassword2", ALICE_PW2)
    spec["quotas"]["mobile"]["config"]["producer_byte_rate"] = "1000000"
    spec["acls"]["bob-deny"]["acl_operation"] = "Read"
    spec["scram"]["bob"]["password_wo_version"] = "2"
    project.run("config", "set", "--secret", "bobPassword", BOB_PW + "x")
    project.write_spec(spec)
    ops = project.preview_ops()
    assert ops["alice"] == "update" and ops["bob"] == "update", ops
    assert ops["mobile"] == "replace" and ops["bob-deny"] == "replace", ops
    assert ops.get("alice-read", "same") == "same" and ops.get("default-user", "same") == "same", ops
    project.up()
    assert can_login(broker, "alice", ALICE_PW, "SCRAM-SHA-256") is None
    assert can_login(broker, "alice", ALICE_PW2, "SCRAM-SHA-256") == {"orders"}
    assert can_login(broker, "bob", BOB_PW + "x", "SCRAM-SHA-512") == set()
    mobile = quota_lines(broker, "clients", "mobile-app")
    assert "producer_byte_rate=1000000" in mobile and "consumer_byte_rate=5000000" in mobile, mobile
    assert acls(broker, "User:bob") == {("*", "READ", "DENY", "TOPIC", "orders", "LITERAL")}
    project.run("preview", "--expect-no-changes")

    # 4. drift: an ACL and a credential deleted behind Pulumi's back are noticed and recreated
    wait_all(
        broker.admin().delete_acls(
            [
                AclBindingFilter(
                    ResourceType.TOPIC,
                    "orders",
                    ResourcePatternType.LITERAL,
                    "User:alice",
                    "*",
                    AclOperation.READ,
                    AclPermissionType.ALLOW,
                )
            ]
        )
    )
    broker.admin().alter_user_scram_credentials([UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256)])[
        "alice"
    ].result()
    wait_until(
        "the ACL is gone",
        lambda: ("*", "READ", "ALLOW", "TOPIC", "orders", "LITERAL") not in acls(broker, "User:alice"),
    )
    project.run("refresh", "--yes")
    assert "alice-read" not in project.resources("kafka:index/acl:Acl")
    assert "alice" not in project.resources("kafka:index/userScramCredential:UserScramCredential")
    project.up()
    assert ("*", "READ", "ALLOW", "TOPIC", "orders", "LITERAL") in acls(broker, "User:alice")
    assert can_login(broker, "alice", ALICE_PW2, "SCRAM-SHA-256") == {"orders"}

    # 5. import with upstream's ID formats: things made outside Pulumi, then declared
    wait_all(
        broker.admin().create_acls(
            [
                AclBinding(
                    ResourceType.TOPIC,
                    "orders",
                    ResourcePatternType.LITERAL,
                    "User:carol",
                    "*",
                    AclOperation.DESCRIBE,
                    AclPermissionType.ALLOW,
                )
            ]
        )
    )
    broker.admin().alter_user_scram_credentials(
        [
            UserScramCredentialUpsertion(
                "carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), CAROL_PW.encode()
            )
        ]
    )["carol"].result()
    broker.kafka_configs(
        "--alter", "--entity-type", "clients", "--entity-name", "batch", "--add-config", "consumer_byte_rate=7000000"
    )
    wait_until("carol's credential is visible", lambda: scram(broker, "carol") == {"SCRAM_SHA_256": 4096})
    project.run(
        "import",
        "--yes",
        "--generate-code=false",
        "--protect=false",
        "kafka:index/acl:Acl",
        "carol-describe",
        "User:carol|*|Describe|Allow|Topic|orders|Literal",
        "--provider",
        PROVIDER,
    )
    project.run(
        "import",
        "--yes",
        "--generate-code=false",
        "--protect=false",
        "kafka:index/quota:Quota",
        "batch",
        "client-id:batch",
        "--provider",
        PROVIDER,
    )
    scram_import = project.run(
        "import",
        "--yes",
        "--generate-code=false",
        "--protect=false",
        "kafka:index/userScramCredential:UserScramCredential",
        "carol",
        f"carol|SCRAM-SHA-256|{CAROL_PW}",
        "--provider",
        PROVIDER,
    )
    assert scram_import.returncode == 0
    imported = project.resources("kafka:index/userScramCredential:UserScramCredential")["carol"]
    assert imported["id"] == "carol|SCRAM-SHA-256", imported["id"]
    assert project.resources("kafka:index/quota:Quota")["batch"]["outputs"]["config"] == {
        "consumer_byte_rate": "7000000"
    }
    spec["acls"]["carol-describe"] = dict(
        acl_principal="User:carol",
        acl_host="*",
        acl_operation="Describe",
        acl_permission_type="Allow",
        acl_resource_name="orders",
        acl_resource_type="Topic",
    )
    spec["quotas"]["batch"] = dict(
        entity_type="client-id", entity_name="batch", config={"consumer_byte_rate": "7000000"}
    )
    spec["scram"]["carol"] = dict(username="carol", scram_mechanism="SCRAM-SHA-256", password="carolPassword")
    project.write_spec(spec)
    project.run("preview", "--expect-no-changes")

    # 6. destroy removes everything it made or adopted
    project.run("destroy", "--yes", "--skip-preview")
    assert (
        acls(broker, "User:alice") == set()
        and acls(broker, "User:bob") == set()
        and acls(broker, "User:carol") == set()
    )
    assert scram(broker, "alice") == {} and scram(broker, "bob") == {} and scram(broker, "carol") == {}
    assert "producer_byte_rate" not in quota_lines(broker, "clients", "mobile-app")
    assert "consumer_byte_rate" not in quota_lines(broker, "clients", "batch")
    assert "request_percentage" not in quota_lines(broker, "users", None)
