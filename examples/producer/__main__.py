"""Publish realistic market data to a K2 platform.

    .venv/bin/python -m examples.producer --outputs outputs.json [--exchange equities.asx] [--trades 5] [--quotes 5]
    .venv/bin/python -m examples.producer --stack dev

For every enabled exchange (or the ones named): one reference-data update per instrument (keyed by
symbol on the compacted topic), then trades and quotes. Keys are the topics' partition key field;
values are Avro, written with the subject's latest registered schema.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from examples.platform_args import add_platform_options, credentials, load_platform
from examples.producer.records import RecordFactory, instruments
from k2infra.client import DataType, TopicNameBuilder, producer_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.producer", description=__doc__.splitlines()[0])
    add_platform_options(parser)
    parser.add_argument("--exchange", action="append", metavar="AC.EX", help="only this exchange (repeatable)")
    parser.add_argument("--trades", type=int, default=5, help="trades per instrument (default 5)")
    parser.add_argument("--quotes", type=int, default=5, help="quotes per instrument (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the price walk")
    args = parser.parse_args(argv)

    platform = load_platform(args)
    settings = producer_settings(platform, credentials(), overrides={"client.id": "k2-example-producer"})
    registry = SchemaRegistryClient(settings.schema_registry)
    serialize = AvroSerializer(registry, conf=settings.serializer)  # no schema of its own: the registry's
    producer = Producer(settings.kafka)
    topics = TopicNameBuilder(platform)
    factory = RecordFactory(seed=args.seed)

    wanted = args.exchange or list(platform.exchanges)
    unknown = sorted(set(wanted) - set(platform.exchanges))
    if unknown:
        return _fail(f"unknown exchange {', '.join(unknown)} (known: {', '.join(platform.exchanges)})")

    delivered: Counter[tuple[str, int]] = Counter()
    failed: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failed.append(f"{msg.topic()}: {err}")
        else:
            delivered[(msg.topic(), msg.partition())] += 1

    def send(data_type: DataType, asset_class: str, exchange: str, count: int) -> None:
        config = topics.get_topic_config(asset_class, data_type, exchange)
        for instrument in instruments(asset_class, exchange):
            for _ in range(count):
                record = factory.record(config, instrument)
                producer.produce(
                    config.name,
                    key=config.key_of(record),  # the partition key field (symbol): murmur2 like Java
                    value=serialize(record, SerializationContext(config.name, MessageField.VALUE)),
                    on_delivery=on_delivery,
                )
                producer.poll(0)

    for ref in wanted:
        exchange = platform.exchanges[ref]
        present = {
            t.data_type
            for t in platform.topics.values()
            if (t.asset_class, t.exchange) == (exchange.asset_class, exchange.code)
        }
        if DataType.REFERENCE_DATA in present:
            send(DataType.REFERENCE_DATA, exchange.asset_class, exchange.code, 1)
        if DataType.TRADES in present:
            send(DataType.TRADES, exchange.asset_class, exchange.code, args.trades)
        if DataType.QUOTES in present:
            send(DataType.QUOTES, exchange.asset_class, exchange.code, args.quotes)
    left = producer.flush(30)
    if failed or left:
        return _fail("; ".join(failed) or f"{left} records not delivered within 30 s")
    for (topic, partition), count in sorted(delivered.items()):
        print(f"{topic}[{partition}]: {count}")
    print(f"produced {sum(delivered.values())} records to {len({t for t, _ in delivered})} topics")
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
