"""A stack's k2infra:kafkaVersion decides which topic configs its broker accepts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from k2infra.model.errors import InputError
from k2infra.model.kafka_versions import catalogue_for, catalogue_versions
from k2infra.model.plan import load_plan
from k2infra.model.stack import load_stack_file


def set_stack(project_dir: Path, lines: str) -> None:
    (project_dir / "Pulumi.v.yaml").write_text("config:\n" + lines)


def problems(project_dir: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_plan(project_dir / "config", "v", project_dir)
    return [str(p) for p in caught.value.problems]


def test_catalogues_of_the_current_and_the_previous_major_are_shipped() -> None:
    assert catalogue_versions() == ["3.9.2", "4.4.0"]
    assert catalogue_for("4.1.0").version == "4.4.0"  # the newest of the same major
    assert catalogue_for("3.8.1").version == "3.9.2"
    assert catalogue_for("2.8.0") is None


def test_a_config_kafka_4_removed_is_refused_for_a_kafka_4_stack_with_where_it_is_written(
    project_dir: Path, edit_topology: Callable
) -> None:
    edit_topology(lambda t: t["defaults"]["config"].update({"message.format.version": "3.0-IV1"}))
    set_stack(project_dir, '  k2infra:kafkaVersion: "4.4.0"\n')
    [message] = problems(project_dir)
    assert message.startswith(f"{project_dir}/Pulumi.v.yaml:2: k2infra:kafkaVersion: message.format.version (")
    assert "config/kafka/topics.yaml:" in message
    assert message.endswith(
        "defaults.config[message.format.version]) is not a topic config of Kafka 4.4.0 (Kafka 3.9.2 knew it)"
    )


def test_the_same_topology_is_valid_for_a_kafka_3_stack(project_dir: Path, edit_topology: Callable) -> None:
    edit_topology(lambda t: t["defaults"]["config"].update({"message.format.version": "3.0-IV1"}))
    set_stack(project_dir, '  k2infra:kafkaVersion: "3.9.2"\n')
    assert load_stack_file(project_dir / "config", "v", project_dir).connections.kafka.kafka_version == "3.9.2"


def test_a_minimum_that_rose_in_kafka_4_is_checked_against_the_stacks_version(
    project_dir: Path, edit_topology: Callable
) -> None:
    edit_topology(lambda t: t["data_types"]["quotes"].setdefault("config", {}).update({"segment.bytes": 65536}))
    set_stack(project_dir, '  k2infra:kafkaVersion: "4.4.0"\n')
    [message] = problems(project_dir)
    assert "segment.bytes (" in message and "data_types.quotes.config[segment.bytes])" in message
    assert message.endswith("must be at least 1048576 on Kafka 4.4.0, got 65536")
    set_stack(project_dir, '  k2infra:kafkaVersion: "3.9.2"\n')
    load_plan(project_dir / "config", "v", project_dir)


def test_a_version_without_a_catalogue_is_an_error_listing_the_ones_there_are(project_dir: Path) -> None:
    set_stack(project_dir, '  k2infra:kafkaVersion: "2.8.2"\n')
    assert problems(project_dir) == [
        f"{project_dir}/Pulumi.v.yaml:2: k2infra:kafkaVersion: no topic-config catalogue for Kafka 2.8.2 (have: 3.9.2, 4.4.0)"
    ]
