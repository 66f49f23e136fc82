"""Topic configs per Kafka version: what a stack's `k2infra:kafkaVersion` broker will accept.

kafka_configs checks a topology against its baseline release's catalogue (with its stricter
overlay); this module adds what one target version refuses, from that release's own catalogue
(topic_configs/kafka-<version>.json, as the broker describes itself): a config it removed or does
not know yet (Kafka 4.0 removed message.format.version, message.downconversion.enable and
message.timestamp.difference.max.ms) and a number below its minimum (segment.bytes >= 1 MiB in 4.x).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from k2infra.model.kafka_configs import CATALOGUE_DIR, ConfigEntry, parse_int, read_catalogue


@dataclass(frozen=True)
class VersionCatalogue:
    version: str  # the release the catalogue was read from, e.g. '4.4.0'
    configs: Mapping[str, ConfigEntry]

    def problem(self, key: str, value: object) -> str | None:
        """None when this Kafka accepts `key: value` as a topic config; else why not, naming the version."""
        entry = self.configs.get(key)
        if entry is None:
            others = [v for v in catalogue_versions() if key in read_catalogue(v)]
            known = f" (Kafka {', '.join(others)} knew it)" if others else ""
            return f"is not a topic config of Kafka {self.version}{known}"
        number = parse_int(value)
        if number is None or number in entry.also:
            return None
        if entry.minimum is not None and number < entry.minimum:
            return f"must be at least {entry.minimum} on Kafka {self.version}, got {number}"
        if entry.maximum is not None and number > entry.maximum:
            return f"must be at most {entry.maximum} on Kafka {self.version}, got {number}"
        return None


def catalogue_versions() -> list[str]:
    """The releases there is a catalogue of, oldest first."""
    names = (p.name.removeprefix("kafka-").removesuffix(".json") for p in CATALOGUE_DIR.glob("kafka-*.json"))
    return sorted(names, key=lambda v: tuple(int(part) for part in v.split(".")))


def catalogue_for(version: str) -> VersionCatalogue | None:
    """The catalogue of `version`'s release line: the newest catalogue of the same major version.

    Topic configs change with major versions (and are only added within one), so the newest of the
    same major is the one to check against; None where there is no catalogue of that major.
    """
    major = version.split(".")[0]
    same_major = [v for v in catalogue_versions() if v.split(".")[0] == major]
    return VersionCatalogue(same_major[-1], read_catalogue(same_major[-1])) if same_major else None
