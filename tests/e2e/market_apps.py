"""A feed producer and an app's consumer as processes of their own, for tests/e2e/test_monitoring.py.

    python -m tests.e2e.market_apps produce BOOTSTRAP TOPIC      # a record every 0.1 s, until SIGTERM
    python -m tests.e2e.market_apps consume BOOTSTRAP GROUP TOPIC  # reads and commits, until SIGTERM

Each prints `ready` once it has written (or been assigned) its first partition, so a test waits on
that line, not on a sleep. SIGTERM ends each cleanly: the producer flushes, the consumer leaves its
group (which then has no member, as when an app's instance is stopped).
"""

from __future__ import annotations

import signal
import sys
import threading

from confluent_kafka import Consumer, Producer

SYMBOLS = [f"SYM{i}".encode() for i in range(12)]  # keys spread over the topic's partitions


def produce(bootstrap: str, topic: str, stop: threading.Event) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    sent = 0
    while not stop.is_set():
        producer.produce(topic, key=SYMBOLS[sent % len(SYMBOLS)], value=b"trade")
        sent += 1
        if sent == 1 and producer.flush(60) == 0:  # the first record is on the broker: the feed runs
            print("ready", flush=True)
        producer.poll(0)
        stop.wait(0.1)
    producer.flush(10)


def consume(bootstrap: str, group: str, topic: str, stop: threading.Event) -> None:
    assigned = threading.Event()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 500,
        }
    )
    consumer.subscribe([topic], on_assign=lambda _c, partitions: partitions and assigned.set())
    said = False
    while not stop.is_set():
        consumer.poll(0.2)
        if assigned.is_set() and not said:
            print("ready", flush=True)
            said = True
    consumer.close()  # commits what it read and leaves the group


def main(argv: list[str]) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if argv[0] == "produce":
        produce(argv[1], argv[2], stop)
    elif argv[0] == "consume":
        consume(argv[1], argv[2], argv[3], stop)
    else:
        print(f"unknown command {argv[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
