"""Per-stack settings (the `k2infra:` namespace of Pulumi.<stack>.yaml), validated once.

Two readers share one model: the Pulumi program reads pulumi.Config (k2infra.deploy.program), the
command line reads Pulumi.<stack>.yaml directly (`read_stack_file`). Both hand a `StackConfig` (the
keys as read) to `validate_settings`, which checks them against the topology all at once. The
`StackSettings` it returns is read by k2infra.model.stack only, which splits it into the layout
overrides (for build_plan), the connections and the safety switches. Secret values never enter it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from k2infra.model.avro_canonical import COMPATIBILITY_LEVELS
from k2infra.model.certificates import certificate_problems, key_problems, token_url_problem
from k2infra.model.connection import SECRET_KEYS, SaslMechanism, checked_registry_urls, read_ca
from k2infra.model.errors import InputError, Problem, describe, did_you_mean, display_path, pydantic_message
from k2infra.model.kafka_configs import parse_int
from k2infra.model.kafka_versions import catalogue_for, catalogue_versions
from k2infra.model.regions import MirrorFrom, declaration_problems
from k2infra.model.topology import (
    MAX_PARTITIONS,
    PRIMARY_REGION,
    LoadedTopology,
    TopologyTopic,
    config_origin,
)
from k2infra.model.yaml_source import dotted, load_yaml

NAMESPACE = "k2infra"
# Config keys holding credentials (k2infra.model.connection.SECRET_KEYS): never accepted in plaintext.
# Config keys holding a map of credentials, set per entry with `pulumi config set --secret --path`:
# app name -> SCRAM password of its user (config/kafka/apps.yaml). Only the Pulumi program reads them.
SECRET_MAP_KEYS = frozenset({"appPasswords"})


class StackSettings(BaseModel):
    """Everything a stack may override. Field aliases are the config keys users type."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    replication_factor: int | None = Field(default=None, alias="replicationFactor", ge=1, le=32767)
    min_insync_replicas: int | None = Field(default=None, alias="minInsyncReplicas", ge=1)
    retention_ms: int | None = Field(default=None, alias="retentionMs", ge=-1)
    partitions: dict[str, int] = Field(default_factory=dict)
    # A cap on every exchange's count in this stack (dev, staging): a new exchange needs no entry in
    # `partitions`, which still wins for the exchanges it lists.
    max_partitions: int | None = Field(default=None, alias="maxPartitions", ge=1, le=MAX_PARTITIONS)
    exchanges: list[str] | None = None
    protect: bool = False
    bootstrap_servers: list[str] = Field(default_factory=list, alias="bootstrapServers")
    tls: bool = False
    tls_skip_verify: bool = Field(default=False, alias="tlsSkipVerify")
    ca_cert: str | None = Field(default=None, alias="caCert")
    sasl_mechanism: SaslMechanism | None = Field(default=None, alias="saslMechanism")
    sasl_username: str | None = Field(default=None, alias="saslUsername")
    # oauthbearer: the token endpoint and scopes; the client id is saslUsername, its secret saslPassword
    # (as pulumi-kafka takes them).
    sasl_token_url: str | None = Field(default=None, alias="saslTokenUrl")
    sasl_oauth_scopes: list[str] = Field(default_factory=list, alias="saslOauthScopes")
    # Mutual TLS: the client certificate (PEM text or a path); its key is the secret clientKey.
    client_cert: str | None = Field(default=None, alias="clientCert")
    schema_registry_url: str | None = Field(default=None, alias="schemaRegistryUrl")
    schema_registry_username: str | None = Field(default=None, alias="schemaRegistryUsername")
    # The registry's CA (PEM text or a path), apart from caCert: the two are different CAs in general.
    schema_registry_ca_cert: str | None = Field(default=None, alias="schemaRegistryCaCert")
    schema_compatibility: str = Field(default="BACKWARD", alias="schemaCompatibility")
    hard_delete_subjects: bool = Field(default=False, alias="hardDeleteSubjects")
    kafka_version: str | None = Field(default=None, alias="kafkaVersion", pattern=r"^\d+\.\d+\.\d+$")
    kafka_timeout_seconds: int = Field(default=120, alias="kafkaTimeoutSeconds", ge=1)
    # Legacy flat topics (the topology's `legacy:` section) exist only on clusters that had them.
    legacy_topics: bool = Field(default=False, alias="legacyTopics")
    allow_retire: bool = Field(default=False, alias="allowRetire")
    force_retire: bool = Field(default=False, alias="forceRetire")
    # Topics a run may delete or replace although they hold records (k2infra.deploy.guards).
    allow_data_loss: list[str] = Field(default_factory=list, alias="allowDataLoss")
    local_cluster: Literal["none", "docker"] = Field(default="none", alias="localCluster")
    # Access control from config/kafka/apps.yaml: ACLs, quotas and SCRAM users of the apps. Needs a
    # broker with an authorizer and SASL (saslMechanism), so it is off unless a stack turns it on.
    access_control: bool = Field(default=False, alias="accessControl")
    app_scram_mechanism: Literal["scram-sha256", "scram-sha512"] = Field(
        default="scram-sha512", alias="appScramMechanism"
    )
    app_scram_iterations: int = Field(default=4096, alias="appScramIterations", ge=4096, le=16384)
    # Regions (k2infra.model.regions): where this stack's cluster is, and what it mirrors from another stack.
    region: str = Field(default=PRIMARY_REGION, pattern=r"^[a-z][a-z0-9_]*$")
    mirror_from: MirrorFrom | None = Field(default=None, alias="mirrorFrom")

    def enabled(self, loaded: LoadedTopology) -> Enabled:
        """What this stack deploys of the topology: the exchanges `exchanges` names (every one without
        it) and their topics, in the topology's order."""

        def on(ref: str) -> bool:
            return self.exchanges is None or ref in self.exchanges

        return Enabled(
            exchanges=tuple((ac, ex) for ac, ex in loaded.exchanges if on(f"{ac}.{ex}")),
            topics=tuple(t for t in loaded.topics if on(t.exchange_ref)),
        )

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split_servers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port(cls, value: list[str]) -> list[str]:
        for server in value:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"each server must be host:port, got {server!r}")
        return value

    @field_validator("sasl_oauth_scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("schema_compatibility")
    @classmethod
    def _compatibility(cls, value: str) -> str:
        if value.upper() not in COMPATIBILITY_LEVELS:
            raise ValueError(f"must be one of {', '.join(COMPATIBILITY_LEVELS)}, got {value!r}")
        return value.upper()

    @field_validator("schema_registry_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        """One URL or several nodes of one registry, comma-separated; every bad entry named at once."""
        return None if value is None else checked_registry_urls(value)


@dataclass(frozen=True)
class Enabled:
    """The exchanges a stack enables, as (asset class, exchange), and their topics."""

    exchanges: tuple[tuple[str, str], ...]
    topics: tuple[TopologyTopic, ...]


KNOWN_KEYS = sorted({f.alias or n for n, f in StackSettings.model_fields.items()} | set(SECRET_KEYS) | SECRET_MAP_KEYS)


@dataclass(frozen=True)
class StackConfig:
    """The `k2infra:` keys of one stack as read, before validation (keys without the namespace)."""

    name: str | None  # None: the topology alone, no stack
    file: str  # as messages name it
    values: Mapping[str, Any]  # the plain keys; secret ones are left out
    secret_keys: frozenset[str] = frozenset()  # the secret keys the stack sets (never their values)
    # Locates a key for messages when the settings come from a file.
    line_of: Callable[[tuple[str | int, ...]], int | None] | None = None
    # The program's case: every credential the settings call for must be a stack secret, since the
    # program has no other source (the command line takes them from the environment when it connects).
    secrets_required: bool = False


def validate_settings(config: StackConfig, loaded: LoadedTopology | None) -> StackSettings:
    """The stack's settings, checked against the topology; InputError with every problem otherwise.

    Without a topology (it has problems of its own) the settings are checked on their own: keys,
    types and the rules between settings, not what they name in the topology."""
    line_of = config.line_of

    def problem(path: tuple[str | int, ...], message: str) -> Problem:
        line = line_of(path) if line_of else None
        shown = ".".join(str(p) for p in path)
        return Problem(config.file, line, f"{NAMESPACE}:{shown}", message)

    problems: list[Problem] = []
    plain: dict[str, Any] = {}
    for key, value in config.values.items():
        if key in SECRET_KEYS:
            if value is not None:
                problems.append(
                    problem((key,), "holds a credential and must be a secret: use `pulumi config set --secret`")
                )
            continue
        if key in SECRET_MAP_KEYS:
            if value is not None:
                problems.append(
                    problem(
                        (key,),
                        "holds credentials and must be secret: "
                        f"use `pulumi config set --secret --path '{NAMESPACE}:{key}.<name>' ...`",
                    )
                )
            continue
        if key not in KNOWN_KEYS:
            close = did_you_mean(key, KNOWN_KEYS)
            problems.append(
                problem(
                    (key,), f"unknown stack setting (did you mean '{close}'?)" if close else "unknown stack setting"
                )
            )
            continue
        plain[key] = _decode(key, value)
    problems += declaration_problems(plain.get("mirrorFrom"), loaded.topology if loaded else None, problem)
    try:
        settings = StackSettings.model_validate(plain)
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(problem(tuple(err["loc"]), pydantic_message(err)))
        raise InputError(problems) from None
    problems += _reference_problems(settings, loaded, problem)
    if problems:
        raise InputError(problems)
    if config.secrets_required:
        required = []
        if settings.sasl_mechanism and "saslPassword" not in config.secret_keys:
            required.append(("saslPassword", f"is required with saslMechanism {settings.sasl_mechanism}"))
        if settings.client_cert and "clientKey" not in config.secret_keys:
            required.append(("clientKey", "is required with clientCert (its private key, PEM text or a path)"))
        if required:
            raise InputError(
                [
                    Problem(
                        config.file,
                        None,
                        f"{NAMESPACE}:{key}",
                        f"{message}: pulumi config set --secret {NAMESPACE}:{key}",
                    )
                    for key, message in required
                ]
            )
    return settings


def _decode(key: str, value: Any) -> Any:
    """Pulumi hands config to programs as strings ('3', 'true', '["a"]'), and `pulumi config set`
    writes them quoted in the stack file: decode JSON for every key that is not a string."""
    if not isinstance(value, str) or key in _STRING_KEYS:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


_STRING_KEYS = frozenset(
    {
        "caCert",
        "clientCert",
        "saslTokenUrl",
        "kafkaVersion",
        "saslMechanism",
        "saslUsername",
        "schemaRegistryUrl",
        "schemaRegistryUsername",
        "schemaRegistryCaCert",
        "schemaCompatibility",
        "localCluster",
        "appScramMechanism",
        "region",
    }
)


def _reference_problems(settings: StackSettings, loaded: LoadedTopology | None, problem: Any) -> list[Problem]:
    known = [f"{ac}.{ex}" for ac, ex in loaded.exchanges] if loaded is not None else []
    out: list[Problem] = []

    def unknown(path: tuple[str | int, ...], ref: str) -> None:
        close = did_you_mean(ref, known)
        hint = f"did you mean '{close}'?" if close else f"known: {', '.join(known)}"
        out.append(problem(path, f"unknown exchange {ref!r}; use asset_class.exchange ({hint})"))

    for ref, count in settings.partitions.items():
        if loaded is not None and ref not in known:
            unknown(("partitions", ref), ref)
        if isinstance(count, bool) or not 1 <= count <= MAX_PARTITIONS:
            out.append(
                problem(
                    ("partitions", ref), f"must be an integer between 1 and {MAX_PARTITIONS}, got {describe(count)}"
                )
            )
    for i, ref in enumerate(settings.exchanges or []):
        if loaded is not None and ref not in known:
            unknown(("exchanges", i), ref)
    if settings.exchanges is not None and not settings.exchanges:
        out.append(problem(("exchanges",), "enables no exchange; omit it to enable all"))
    if loaded is not None:
        enabled = settings.enabled(loaded)
        out += _isr_problems(settings, loaded, enabled, problem)
        out += _version_problems(settings, loaded, enabled, problem)
    if settings.protect and settings.hard_delete_subjects:
        out.append(
            problem(("hardDeleteSubjects",), "cannot be true on a protected stack: protected topics keep their schemas")
        )
    if settings.sasl_mechanism and not settings.sasl_username:
        what = " (the OAuth client id)" if settings.sasl_mechanism == "oauthbearer" else ""
        out.append(problem(("saslUsername",), f"is required with saslMechanism {settings.sasl_mechanism}{what}"))
    out += _client_auth_problems(settings, problem)
    if settings.access_control and not settings.sasl_mechanism and not settings.client_cert:
        out.append(
            problem(
                ("accessControl",),
                "needs a login the brokers can name: saslMechanism (SCRAM, PLAIN or OAUTHBEARER) or clientCert "
                "(mutual TLS); the apps' ACLs name authenticated principals, and the program manages them as an admin",
            )
        )
    return out


def _client_auth_problems(settings: StackSettings, problem: Any) -> list[Problem]:
    """mTLS and OAUTHBEARER settings that cannot work, named before anything connects."""
    out: list[Problem] = []
    if settings.sasl_mechanism == "oauthbearer":
        if not settings.sasl_token_url:
            out.append(problem(("saslTokenUrl",), "is required with saslMechanism oauthbearer (the token endpoint)"))
        elif (reason := token_url_problem(settings.sasl_token_url)) is not None:
            out.append(problem(("saslTokenUrl",), reason))
    elif settings.sasl_token_url or settings.sasl_oauth_scopes:
        key = "saslTokenUrl" if settings.sasl_token_url else "saslOauthScopes"
        out.append(problem((key,), "applies only with saslMechanism oauthbearer"))
    if settings.client_cert:
        if not settings.tls:
            out.append(
                problem(("clientCert",), "needs tls: true (a client certificate is presented in the TLS handshake)")
            )
        try:
            pem = read_ca(settings.client_cert, "the client certificate")
        except ValueError as exc:
            out.append(problem(("clientCert",), str(exc)))
        else:
            out += [problem(("clientCert",), reason) for reason in certificate_problems(pem)]
    return out


def client_key_problems(cert: str, key: str) -> list[str]:
    """What is wrong with the (secret) client key for the certificate; for whoever resolved its value."""
    try:
        cert_pem = read_ca(cert, "the client certificate")
    except ValueError:
        return []  # named at clientCert
    try:
        key_pem = read_ca(key, "the client key")
    except ValueError as exc:
        return [str(exc)]
    return key_problems(cert_pem, key_pem)


def _isr_problems(settings: StackSettings, loaded: LoadedTopology, enabled: Enabled, problem: Any) -> list[Problem]:
    """min.insync.replicas above the replication factor makes every acks=all write fail.

    Either side may come from the stack or from the topology: the problem stands at the stack's
    value when the stack sets one (that is what differs between stacks) and names where the other
    side was written, file, line and field, so that the user sees both ends of the conflict.
    """
    topology, topology_source = loaded.topology, loaded.source
    replication_factor = settings.replication_factor or topology.defaults.replication_factor
    # (isr, where the isr was written) -> topics
    offenders: dict[tuple[int, tuple[str, ...] | None], list[str]] = {}
    for t in enabled.topics:
        if settings.min_insync_replicas:
            isr, origin = settings.min_insync_replicas, None
        else:
            isr = parse_int(t.config.get("min.insync.replicas"))
            origin = config_origin(topology, t.asset_class, t.data_type, t.exchange, "min.insync.replicas")
        if isr is not None and isr > replication_factor:
            offenders.setdefault((isr, origin), []).append(t.name)

    def written_at(path: tuple[str, ...]) -> str:
        if topology_source is None:
            return dotted(path)
        return f"{topology_source.file}:{topology_source.line_of(path)}: {dotted(path)}"

    out = []
    for (isr, origin), names in sorted(offenders.items(), key=lambda item: (item[0][0], item[0][1] or ())):
        head = f"min.insync.replicas {isr} exceeds the replication factor {replication_factor}"
        if origin is None:  # the stack's minInsyncReplicas against a replication factor
            rf_from = (
                f"k2infra:replicationFactor {replication_factor}"
                if settings.replication_factor
                else f"the topology's replication factor ({written_at(('defaults', 'replication_factor'))})"
            )
            where, conflict = ("minInsyncReplicas",), f"conflicts with {rf_from}"
        else:  # the topology's min.insync.replicas against the stack's (or the topology's) replication factor
            where = ("replicationFactor",) if settings.replication_factor else ("minInsyncReplicas",)
            conflict = (
                f"conflicts with min.insync.replicas {isr} at {written_at(origin)}; "
                f"set k2infra:minInsyncReplicas to at most {replication_factor} in this stack"
            )
        out.append(
            problem(
                where,
                f"{head}, so no acks=all write could succeed (topics: {', '.join(sorted(names))}): {conflict}",
            )
        )
    return out


def _version_problems(settings: StackSettings, loaded: LoadedTopology, enabled: Enabled, problem: Any) -> list[Problem]:
    """Every topic config the stack deploys, against what its k2infra:kafkaVersion broker accepts."""
    if settings.kafka_version is None:
        return []
    catalogue = catalogue_for(settings.kafka_version)
    if catalogue is None:
        have = ", ".join(catalogue_versions())
        return [
            problem(("kafkaVersion",), f"no topic-config catalogue for Kafka {settings.kafka_version} (have: {have})")
        ]
    topology, topology_source = loaded.topology, loaded.source
    used_types = {t.data_type for t in enabled.topics}
    written: list[tuple[tuple[str, ...], str, object]] = [
        (("defaults", "config", key), key, value) for key, value in topology.defaults.config.items()
    ]
    written += [
        (("data_types", dt, "config", key), key, value)
        for dt in sorted(used_types)
        for key, value in topology.data_types[dt].config.items()
    ]
    written += [
        (("asset_classes", ac, "exchanges", ex, "config", key), key, value)
        for ac, ex in sorted(enabled.exchanges)
        for key, value in topology.asset_classes[ac].exchanges[ex].config.items()
    ]
    if settings.legacy_topics:
        written += [
            (("legacy", name, "config", key), key, value)
            for name, spec in topology.legacy.items()
            for key, value in spec.config.items()
        ]
    out = []
    for path, key, value in written:
        reason = catalogue.problem(key, value)
        if reason is not None:
            where = dotted(path)
            if topology_source is not None:
                where = f"{topology_source.file}:{topology_source.line_of(path)}: {where}"
            out.append(problem(("kafkaVersion",), f"{key} ({where}) {reason}"))
    return out


# -- reading Pulumi.<stack>.yaml without the engine (command line) ------------------------------


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


NO_STACK = StackConfig(None, "(no stack)", {})  # the topology alone: defaults, no overrides


def read_stack_file(project_dir: Path, stack: str | None, given_secrets: Collection[str] = ()) -> StackConfig:
    """The `k2infra:` keys of Pulumi.<stack>.yaml (NO_STACK when stack is None).

    `given_secrets` are the secret keys the caller holds otherwise (the command line: from the
    environment); such a key is not checked in the file, which holds it encrypted or not at all."""
    if stack is None:
        return NO_STACK
    path = stack_file(project_dir, stack)
    if not path.exists():
        present = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml")
        )
        raise InputError(
            [Problem(display_path(path), None, "", f"no such stack file (stacks here: {', '.join(present) or 'none'})")]
        )
    source = load_yaml(path, display_name=display_path(path))
    config = source.data.get("config") or {}
    if not isinstance(config, dict):
        raise InputError([source.problem(("config",), "must be a mapping")])
    raw: dict[str, Any] = {}
    secrets: set[str] = {key for key in given_secrets if key in SECRET_KEYS}
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE or not key:
            continue  # other namespaces (kafka:, pulumi:) are not ours to check
        if key in SECRET_KEYS and ((isinstance(value, dict) and "secure" in value) or key in secrets):
            secrets.add(key)
            continue
        if key in SECRET_MAP_KEYS and _all_secure(value):
            secrets.add(key)
            continue
        raw[key] = value

    def line_of(path: tuple[str | int, ...]) -> int | None:
        return source.line_of(("config", f"{NAMESPACE}:{path[0]}", *path[1:]))

    return StackConfig(stack, source.file, raw, frozenset(secrets), line_of)


def _all_secure(value: Any) -> bool:
    """A `--path` map of secrets as the stack file holds it: {name: {secure: ...}, ...}."""
    return isinstance(value, dict) and all(isinstance(v, dict) and set(v) == {"secure"} for v in value.values())
