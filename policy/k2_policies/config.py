"""Per-policy configuration: defaults (production), JSON schemas for the CLI, and strict reading.

Each policy's settings are one frozen dataclass. Its fields carry their config key, JSON type,
bounds and description as metadata, so the defaults, the schema the Pulumi CLI validates
`--policy-pack-config` against, and the reader below cannot drift apart.

The CLI fills a policy's config with the schema defaults, overlays the config file, validates the
result against the schema and hands it to the pack (numbers arrive as doubles, through protobuf).
The CLI ignores keys the schema does not know, so `from_config` refuses them: a typo such as
`minReplicatonFactor` in a config file fails the run instead of silently keeping the default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from k2infra.model.topology import MAX_PARTITIONS

ENFORCEMENT_KEY = "enforcementLevel"  # handled by the CLI, never part of a policy's properties

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Kafka stores retention.ms as a long; -1 means unlimited.
LONG_MAX = 2**63 - 1


class PolicyConfigError(ValueError):
    """A policy config value that the pack cannot use."""


def _option(
    key: str,
    default: Any,
    description: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> Any:
    kind = _json_type(default)
    metadata = {"key": key, "type": kind, "description": description, "minimum": minimum, "maximum": maximum}
    return field(default=default, metadata=metadata)  # tuples only: defaults stay immutable


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, tuple):
        return "array"
    raise TypeError(f"unsupported option default {value!r}")


T = TypeVar("T", bound="PolicySettings")


@dataclass(frozen=True)
class PolicySettings:
    """Base of every policy's settings."""

    policy: ClassVar[str] = ""

    @classmethod
    def schema(cls) -> dict[str, dict[str, Any]]:
        """JSON schema properties, with defaults, as pulumi_policy.PolicyConfigSchema wants them."""
        properties: dict[str, dict[str, Any]] = {}
        for f in dataclasses.fields(cls):
            meta = f.metadata
            prop: dict[str, Any] = {"type": meta["type"], "description": meta["description"]}
            if meta["type"] == "array":
                prop["items"] = {"type": "string"}
                prop["default"] = list(f.default)
            else:
                prop["default"] = f.default
            if meta["minimum"] is not None:
                prop["minimum"] = meta["minimum"]
            if meta["maximum"] is not None:
                prop["maximum"] = meta["maximum"]
            properties[meta["key"]] = prop
        return properties

    @classmethod
    def keys(cls) -> list[str]:
        return [f.metadata["key"] for f in dataclasses.fields(cls)]

    @classmethod
    def from_config(cls: type[T], raw: Mapping[str, Any] | None) -> T:
        """Settings from a policy's config as the engine passes it (None or {}: all defaults)."""
        raw = {k: v for k, v in (raw or {}).items() if k != ENFORCEMENT_KEY}
        by_key = {f.metadata["key"]: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(by_key))
        if unknown:
            known = f"known: {', '.join(by_key)}" if by_key else "this policy takes none"
            raise PolicyConfigError(f"{cls.policy}: unknown config key(s) {', '.join(map(repr, unknown))} ({known})")
        values = {f.name: _read(cls.policy, key, f.metadata, raw[key]) for key, f in by_key.items() if key in raw}
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field checks; the schema covers single values."""


def _read(policy: str, key: str, meta: Mapping[str, Any], value: Any) -> Any:
    where = f"{policy}: config {key!r}"
    kind = meta["type"]
    if kind == "boolean":
        if not isinstance(value, bool):
            raise PolicyConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if kind == "array":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise PolicyConfigError(f"{where} must be a list of strings, got {value!r}")
        if not all(isinstance(item, str) for item in value):
            raise PolicyConfigError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    # integer: the engine passes config through protobuf Struct, where every number is a double.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyConfigError(f"{where} must be an integer, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise PolicyConfigError(f"{where} must be an integer, got {value!r}")
        value = int(value)
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise PolicyConfigError(f"{where} must be at least {meta['minimum']}, got {value}")
    if meta["maximum"] is not None and value > meta["maximum"]:
        raise PolicyConfigError(f"{where} must be at most {meta['maximum']}, got {value}")
    return value


@dataclass(frozen=True)
class NamingSettings(PolicySettings):
    """Topic names are fixed by the platform (market.{asset_class}.{data_type}.{exchange}): nothing to set."""

    policy: ClassVar[str] = "k2-topic-naming"


@dataclass(frozen=True)
class ReplicationSettings(PolicySettings):
    policy: ClassVar[str] = "k2-topic-replication"

    min_replication_factor: int = _option(
        "minReplicationFactor", 3, "Lowest replicationFactor a topic may have.", minimum=1, maximum=32767
    )
    min_insync_replicas: int = _option(
        "minInsyncReplicas",
        2,
        "Lowest min.insync.replicas a topic may have (unset counts as Kafka's default, 1).",
        minimum=1,
        maximum=32767,
    )
    allow_single_replica: bool = _option(
        "allowSingleReplica",
        False,
        "Allow replicationFactor 1 with min.insync.replicas 1 (one copy of the data: single-broker dev only). "
        "Otherwise min.insync.replicas must be strictly below replicationFactor.",
    )


@dataclass(frozen=True)
class CompactionSettings(PolicySettings):
    policy: ClassVar[str] = "k2-reference-data-compacted"

    compacted_data_types: tuple[str, ...] = _option(
        "compactedDataTypes",
        ("reference_data",),
        "Data types whose topics must be compacted (cleanup.policy contains compact).",
    )


@dataclass(frozen=True)
class RetentionSettings(PolicySettings):
    policy: ClassVar[str] = "k2-topic-retention"

    min_retention_ms: int = _option(
        "minRetentionMs", HOUR_MS, "Lowest retention.ms of a delete-policy topic.", minimum=0, maximum=LONG_MAX
    )
    max_retention_ms: int = _option(
        "maxRetentionMs", 30 * DAY_MS, "Highest retention.ms of a delete-policy topic.", minimum=0, maximum=LONG_MAX
    )
    allow_unlimited_retention: bool = _option(
        "allowUnlimitedRetention", False, "Allow retention.ms -1 (keep data forever) on delete-policy topics."
    )

    def check(self) -> None:
        if self.min_retention_ms > self.max_retention_ms:
            raise PolicyConfigError(
                f"{self.policy}: minRetentionMs {self.min_retention_ms} exceeds maxRetentionMs {self.max_retention_ms}"
            )


@dataclass(frozen=True)
class PartitionSettings(PolicySettings):
    policy: ClassVar[str] = "k2-topic-partitions"

    max_partitions: int = _option(
        "maxPartitions", 1000, "Highest partition count of one topic.", minimum=1, maximum=MAX_PARTITIONS
    )


@dataclass(frozen=True)
class SchemaSubjectSettings(PolicySettings):
    """Every topic needs its subject in the same stack: nothing to set."""

    policy: ClassVar[str] = "k2-topic-has-schema-subject"


@dataclass(frozen=True)
class AclWildcardSettings(PolicySettings):
    """No ACL for every user, topic or group: nothing to set."""

    policy: ClassVar[str] = "k2-acl-no-wildcard"


@dataclass(frozen=True)
class WriteScopeSettings(PolicySettings):
    """Write access only to the asset classes an app declares (config/kafka/apps.yaml): nothing to set."""

    policy: ClassVar[str] = "k2-app-writes-declared-asset-classes"


@dataclass(frozen=True)
class AppQuotaSettings(PolicySettings):
    """Every app user has a quota: nothing to set."""

    policy: ClassVar[str] = "k2-app-has-quota"


ALL_SETTINGS: tuple[type[PolicySettings], ...] = (
    NamingSettings,
    ReplicationSettings,
    CompactionSettings,
    RetentionSettings,
    PartitionSettings,
    SchemaSubjectSettings,
    AclWildcardSettings,
    WriteScopeSettings,
    AppQuotaSettings,
)
SETTINGS_BY_POLICY = {s.policy: s for s in ALL_SETTINGS}
