"""Read market data from a K2 platform and print it.

    .venv/bin/python -m examples.consumer --outputs outputs.json --exchange equities.asx
    .venv/bin/python -m examples.consumer --outputs outputs.json --asset-class crypto --data-types trades,quotes
    .venv/bin/python -m examples.consumer --outputs outputs.json --data-type trades --pattern   # + exchanges added later
    .venv/bin/python -m examples.consumer --stack dev --exchange crypto.binance --max-records 10 --timeout 20

Stops after --max-records records or --timeout seconds, whichever comes first; while no record
arrives it says so every --progress-every seconds (on stderr), so a quiet subscription is not silence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from examples.platform_args import add_platform_options, credentials, load_platform
from k2infra.client import Platform, SubscriptionBuilder, UnknownTopicError, consumer_settings


def subscription(args: argparse.Namespace, platform: Platform) -> list[str] | str:
    """A sorted topic list, or with --pattern one regex (librdkafka: a topic starting with ^)."""
    builder = SubscriptionBuilder(platform)
    data_types = args.data_types.split(",") if args.data_types else None
    exchanges = args.exchanges.split(",") if args.exchanges else None
    if args.exchange:
        asset_class, _, exchange = args.exchange.partition(".")
        if args.pattern:
            return builder.exchange_pattern(asset_class, exchange)
        return builder.subscribe_to_exchange(asset_class, exchange)
    if args.asset_class:
        if args.pattern:
            if exchanges:
                raise UnknownTopicError("--pattern reaches every exchange of the class: drop --exchanges")
            return builder.asset_class_pattern(args.asset_class, data_types)
        return builder.subscribe_to_asset_class(args.asset_class, data_types, exchanges)
    if args.data_type:
        return (
            builder.data_type_pattern(args.data_type)
            if args.pattern
            else builder.subscribe_to_data_type(args.data_type)
        )
    return platform.patterns.all if args.pattern else sorted(platform.topics)


class Progress:
    """The waiting lines on stderr: one at the start, then one per `every` seconds without a record."""

    def __init__(self, start: float, timeout: float, max_records: int, every: float) -> None:
        self.start, self.timeout, self.max_records, self.every = start, timeout, max_records, every
        self.last = start

    def first(self) -> str:
        return f"waiting for records: stops at {self.max_records} records or after {self.timeout:g} s"

    def tick(self, now: float, read: int, got_one: bool) -> str | None:
        if got_one:
            self.last = now
            return None
        if now - self.last < self.every:
            return None
        self.last = now
        left = max(0.0, self.timeout - (now - self.start))
        return f"still waiting: {read} records so far, {left:.0f} s left"


def printable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.consumer", description=__doc__.splitlines()[0])
    add_platform_options(parser)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--exchange", metavar="AC.EX", help="one exchange, e.g. equities.asx")
    what.add_argument("--asset-class", metavar="AC", help="every exchange of an asset class")
    what.add_argument("--data-type", metavar="DT", help="one data type on every exchange")
    parser.add_argument("--data-types", metavar="DT,...", help="with --asset-class: only these data types")
    parser.add_argument("--exchanges", metavar="EX,...", help="with --asset-class: only these exchanges")
    parser.add_argument("--pattern", action="store_true", help="subscribe by regex: exchanges added later arrive too")
    parser.add_argument("--group-id", default=f"k2-example-consumer-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--max-records", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before giving up (default 30)")
    parser.add_argument("--progress-every", type=float, default=10.0, help="seconds between waiting lines")
    parser.add_argument("--metadata-refresh-ms", type=int, default=5000, help="how soon new topics are seen")
    parser.add_argument("--json", action="store_true", help="one JSON object per record")
    args = parser.parse_args(argv)

    platform = load_platform(args)
    try:
        topics = subscription(args, platform)
    except UnknownTopicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = consumer_settings(
        platform,
        args.group_id,
        credentials(),
        overrides={"topic.metadata.refresh.interval.ms": args.metadata_refresh_ms, "enable.auto.commit": True},
    )
    deserialize = AvroDeserializer(SchemaRegistryClient(settings.schema_registry), conf=settings.deserializer)
    consumer = Consumer(settings.kafka)
    consumer.subscribe(topics if isinstance(topics, list) else [topics])
    print(f"subscribed to {topics if isinstance(topics, str) else ', '.join(topics)}", file=sys.stderr)

    read = 0
    start = time.monotonic()
    deadline = start + args.timeout
    progress = Progress(start, args.timeout, args.max_records, args.progress_every)
    print(progress.first(), file=sys.stderr)
    try:
        while read < args.max_records and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            line = progress.tick(time.monotonic(), read, got_one=msg is not None)
            if line:
                print(line, file=sys.stderr)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            value = deserialize(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE))
            key = msg.key().decode() if msg.key() is not None else None
            read += 1
            if args.json:
                row = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(), "key": key}
                print(json.dumps({**row, "value": {k: printable(v) for k, v in value.items()}}))
            else:
                fields = " ".join(f"{k}={printable(v)}" for k, v in value.items() if k not in ("symbol", "exchange"))
                print(f"{msg.topic()}[{msg.partition()}]@{msg.offset()} {key}: {fields}")
            sys.stdout.flush()
    finally:
        consumer.close()
    print(f"read {read} records", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
