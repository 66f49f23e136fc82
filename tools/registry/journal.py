#!/usr/bin/env python3
"""Back up the registry's journal topic to a file, and restore it into another platform's Kafka.

The journal (`k2-registry-journal`, Apicurio's kafkasql storage) is the registry's whole state:
every node replays it at start and arrives at the same subjects, versions and IDs. A copy of its
records (key, value, headers, in order) replayed by a registry on another cluster gives that
registry the same IDs; docs/runbook.md §14 says when to use it, tests/e2e/test_registry_durable.py
restores a backup into a fresh platform and compares every ID.

    journal.py backup  FILE   # every record of the journal, one JSON line each (bytes as base64)
    journal.py restore FILE   # appends them to the journal of the cluster named (created if absent),
                              # which must hold no record yet
    journal.py restore --replace FILE   # the same after deleting the journal the cluster has (every
                              # registry node stopped: refused while one still reads it)

The cluster is the one `tools/platform.sh env` describes: K2_BOOTSTRAP_SERVERS, and on the secured
cluster its super user K2_ADMIN_USERNAME / K2_ADMIN_PASSWORD (SCRAM-SHA-512; the infra principal
K2_SASL_USERNAME has no rights on the journal) and K2_CA_CERT. Restore into a journal
no registry has replayed yet (restore before the registry's first start): records appended after a
registry's own would be replayed after them. The secured cluster's registries start with the
cluster, so there the journal is replaced (--replace) while they are stopped; its ACLs name the
topic and outlive it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "k2-registry-journal"
GROUP_PREFIX = "k2-registry-"  # each registry start replays the journal in a group of its own (tools/platform.sh)
# A stopped registry node does not leave its journal consumer's group: the group keeps its member
# until the session times out (Kafka's default, 45 s, as Apicurio runs it). A running node's stays.
LEFT_WAIT = 90.0
WAIT = 60.0  # seconds for the cluster to answer one request
# What a topic just created answers until its partition's leader serves it.
NOT_SERVED_YET = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


def client_config(env: dict[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap.servers": env["K2_BOOTSTRAP_SERVERS"]}
    if env.get("K2_SASL_PASSWORD"):
        # The super user: the infra principal (K2_SASL_USERNAME) may manage `market.` topics only,
        # never read or write records (docs/access.md, "k2infra's own principal").
        if not env.get("K2_ADMIN_PASSWORD"):
            raise SystemExit(
                "journal: the secured cluster's super user is needed: K2_ADMIN_USERNAME / K2_ADMIN_PASSWORD"
            )
        config.update(
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": env.get("K2_ADMIN_USERNAME", "k2broker"),
                "sasl.password": env["K2_ADMIN_PASSWORD"],
                "ssl.ca.location": env["K2_CA_CERT"],
            }
        )
    return config


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def backup(config: dict[str, Any], path: Path) -> int:
    """Every record of the journal's one partition, from offset 0 to its end as read at the start."""
    consumer = Consumer({**config, "group.id": "k2-journal-backup", "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=WAIT)
        consumer.assign([TopicPartition(TOPIC, 0, low)])
        count = 0
        with path.open("w") as out:
            while low + count < high:
                msg = consumer.poll(WAIT)
                if msg is None:
                    raise SystemExit(f"journal backup: no record at offset {low + count} within {WAIT:g}s")
                if msg.error():
                    raise KafkaException(msg.error())
                headers = [[k, _b64(v)] for k, v in (msg.headers() or [])]
                out.write(json.dumps({"key": _b64(msg.key()), "value": _b64(msg.value()), "headers": headers}) + "\n")
                count += 1
    finally:
        consumer.close()
    return count


def create_journal(config: dict[str, Any]) -> None:
    """The journal topic as platform.sh and the registry make it (Apicurio refuses any other
    retention): one partition, RF 3 and min ISR 2 on three brokers, else RF 1; nothing if it exists."""
    admin = AdminClient(config)
    metadata = admin.list_topics(timeout=WAIT)
    if TOPIC in metadata.topics:
        return
    brokers = len(metadata.brokers)
    replicas, isr = (3, 2) if brokers >= 3 else (1, 1)
    topic = NewTopic(
        TOPIC,
        num_partitions=1,
        replication_factor=replicas,
        config={
            "cleanup.policy": "delete",
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "min.insync.replicas": str(isr),
        },
    )
    admin.create_topics([topic], operation_timeout=WAIT)[TOPIC].result(timeout=WAIT)


def registries_reading(admin: AdminClient) -> list[str]:
    """The registries' consumer groups that have members: a registry node that still reads the journal."""
    listed = admin.list_consumer_groups(request_timeout=WAIT).result(timeout=WAIT)
    return sorted(
        group.group_id
        for group in listed.valid
        if group.group_id.startswith(GROUP_PREFIX)
        and group.state not in (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD)
    )


def delete_journal(config: dict[str, Any], left_wait: float = LEFT_WAIT) -> None:
    """Deletes the journal once no registry reads it (waiting up to `left_wait` seconds for the groups
    of stopped nodes to empty), and waits until the cluster no longer lists it."""
    admin = AdminClient(config)
    deadline = time.monotonic() + left_wait
    reading = registries_reading(admin)
    if reading:
        print(
            f"journal restore --replace: waiting up to {left_wait:g}s for the registries' groups to empty", flush=True
        )
    while reading and time.monotonic() < deadline:
        time.sleep(1)
        reading = registries_reading(admin)
    if reading:
        raise SystemExit(
            f"journal restore --replace: a registry still reads {TOPIC} (consumer groups {', '.join(reading)}"
            f" have members after {left_wait:g}s): stop every registry node first"
        )
    if TOPIC not in admin.list_topics(timeout=WAIT).topics:
        return
    admin.delete_topics([TOPIC], operation_timeout=WAIT)[TOPIC].result(timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while TOPIC in admin.list_topics(timeout=WAIT).topics:
        if time.monotonic() > deadline:
            raise SystemExit(f"journal restore --replace: {TOPIC} is still listed {WAIT:g}s after its deletion")
        time.sleep(0.2)


def _watermarks(consumer: Consumer) -> tuple[int, int]:
    """The journal's offsets, once its partition has a leader: a topic just created answers "not leader"
    (or "unknown") for a moment, longer on a loaded machine (seen once in CI)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=WAIT)
        except KafkaException as exc:
            settling = exc.args[0].code() in NOT_SERVED_YET or exc.args[0].retriable()
            if not settling or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def restore(config: dict[str, Any], path: Path, replace: bool = False) -> int:
    """The backed-up records appended to the journal in their order (one idempotent producer); the
    journal is created first if the cluster has none (`replace`: after deleting the one it has)."""
    if replace:
        delete_journal(config)
    create_journal(config)
    consumer = Consumer({**config, "group.id": "k2-journal-restore"})
    try:
        low, high = _watermarks(consumer)
    finally:
        consumer.close()
    if high > low:
        raise SystemExit(f"journal restore: {TOPIC} already holds {high - low} records; restore into a new one")
    producer = Producer({**config, "enable.idempotence": True, "acks": "all"})
    errors: list[str] = []
    count = 0
    for line in path.read_text().splitlines():
        record = json.loads(line)
        producer.produce(
            TOPIC,
            key=_bytes(record["key"]),
            value=_bytes(record["value"]),
            headers=[(k, _bytes(v)) for k, v in record["headers"]],
            on_delivery=lambda err, _m: err and errors.append(str(err)),
        )
        count += 1
    if producer.flush(WAIT) or errors:
        raise SystemExit(f"journal restore: not every record was written: {errors[:3]}")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["backup", "restore"])
    parser.add_argument("file", type=Path)
    parser.add_argument(
        "--replace", action="store_true", help="restore: delete the journal first (every registry node stopped)"
    )
    args = parser.parse_args(argv)
    if args.replace and args.action != "restore":
        parser.error("--replace goes with restore")
    config = client_config(dict(os.environ))
    if args.action == "backup":
        print(f"{backup(config, args.file)} journal records written to {args.file}")
    else:
        print(f"{restore(config, args.file, args.replace)} journal records restored from {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
