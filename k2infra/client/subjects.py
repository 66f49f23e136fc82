"""The subject-name contract: a topic's values are registered under its asset class's subject.

    market.equities.trades.asx  ->  market.equities.trades-value   (shared by every equities exchange)

Confluent serializers name the subject after the topic by default (TopicNameStrategy:
`market.equities.trades.asx-value`), a subject K2 never registers. `SubjectNameStrategy` is the
`subject.name.strategy` callable of confluent-kafka's Python AvroSerializer and AvroDeserializer,
which call it as `strategy(SerializationContext, record_name)` and use the subject it returns.
"""

from __future__ import annotations

from typing import Any

from k2infra.client.errors import UnknownTopicError
from k2infra.client.platform import Platform
from k2infra.model.topology import NAME_PATTERN, TOPIC_PREFIX

__all__ = ["SubjectNameStrategy"]


class SubjectNameStrategy:
    """topic -> the value subject of its asset class and data type, from the platform's topics.

    A topic the platform does not list is refused with UnknownTopicError, which the serializer
    raises to the caller of `produce`, before anything is sent. With `accept_new_exchanges`
    (consumers: a pattern subscription receives exchanges added after the app loaded the outputs)
    a topic `market.<ac>.<dt>.<new exchange>` is also accepted when the platform has the subject of
    (<ac>, <dt>): subjects are per asset class and data type, so a new exchange shares it.
    """

    def __init__(self, platform: Platform, *, accept_new_exchanges: bool = False) -> None:
        self.platform = platform
        self.accept_new_exchanges = accept_new_exchanges

    def __call__(self, ctx: Any, record_name: str | None = None) -> str:
        if ctx is None:
            raise ValueError(
                "the K2 subject of a value depends on its topic: call the serializer with a "
                "SerializationContext(topic, MessageField.VALUE)"
            )
        if str(getattr(ctx, "field", "value")) == "key":
            raise ValueError(
                f"K2 topics have no key schema (the key is the {self._key_field(ctx.topic)} string): "
                "serialize keys with StringSerializer, not an Avro serializer"
            )
        return self.subject_for(ctx.topic)

    def subject_for(self, topic: str) -> str:
        spec = self.platform.topics.get(topic)
        if spec is not None:
            return spec.schema_subject
        parts = topic.split(".")
        shaped = len(parts) == 4 and parts[0] == TOPIC_PREFIX and all(NAME_PATTERN.match(p) for p in parts[1:])
        if shaped:
            subject = self.platform.subject_of(parts[1], parts[2])
            if subject is not None and self.accept_new_exchanges:
                return subject
            if subject is not None:
                raise UnknownTopicError(
                    f"{topic!r} is not a topic of this K2 platform ({self.platform.source} list "
                    f"{len(self.platform.topics)} topics; exchanges of {parts[1]}: "
                    f"{', '.join(sorted(t.exchange for t in self.platform.topics.values() if t.asset_class == parts[1] and t.data_type == parts[2]))})"
                )
        pairs = sorted({f"{t.asset_class}.{t.data_type}" for t in self.platform.topics.values()})
        raise UnknownTopicError(
            f"{topic!r} is not a topic of this K2 platform: K2 topics are "
            f"{TOPIC_PREFIX}.<asset_class>.<data_type>.<exchange>, with (asset class, data type) one of "
            f"{', '.join(pairs)}; their values use the subject {TOPIC_PREFIX}.<asset_class>.<data_type>-value"
        )

    def _key_field(self, topic: str) -> str:
        spec = self.platform.topics.get(topic)
        return spec.partition_key if spec is not None else "partition key"

    def __repr__(self) -> str:
        return f"SubjectNameStrategy({self.platform.source}, accept_new_exchanges={self.accept_new_exchanges})"
