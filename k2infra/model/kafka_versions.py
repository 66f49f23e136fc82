"""Topic configs per Kafka version: what a stack's `k2infra:kafkaVersion` broker will accept.

The catalogues in topic_configs/ are read from each release's broker jars by
tools/kafka/topic-configs.sh (LogConfig's config keys, defaults and ranges), so they say what the
broker itself accepts. kafka_configs.py checks a topology against every config Kafka has had; this
module adds what one target version refuses: a config it removed or does not know yet (Kafka 4.0
removed message.format.version, message.downconversion.enable and
message.timestamp.difference.max.ms) and a number below its minimum (segment.bytes >= 1 MiB in 4.x).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from k2infra.model.errors import parse_int

CATALOGUE_DIR = Path(__file__).parent / "topic_configs"


@dataclass(frozen=True)
class VersionCatalogue:
    version: str  # the release the catalogue was read from, e.g. '4.4.0'
    configs: dict[str, dict[str, Any]]

    def problem(self, key: str, value: object) -> str | None:
        """None when this Kafka accepts `key: value` as a topic config; else why not, naming the version."""
        spec = self.configs.get(key)
        if spec is None:
            others = [v for v in catalogue_versions() if key in _catalogue(v).configs]
            known = f" (Kafka {', '.join(others)} knew it)" if others else ""
            return f"is not a topic config of Kafka {self.version}{known}"
        number = parse_int(value)
        low, high = spec.get("minimum"), spec.get("maximum")
        if number is not None and low is not None and number < low:
            return f"must be at least {low} on Kafka {self.version}, got {number}"
        if number is not None and high is not None and number > high:
            return f"must be at most {high} on Kafka {self.version}, got {number}"
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
    return _catalogue(same_major[-1]) if same_major else None


@cache
def _catalogue(version: str) -> VersionCatalogue:
    data = json.loads((CATALOGUE_DIR / f"kafka-{version}.json").read_text())
    return VersionCatalogue(version, data["configs"])
