"""Topic names, topic configs, exchange metadata and subscriptions for producers and consumers,
over the platform's description.

Works from the stack outputs (an app deploy) or from the topology files (a Plan):

    from k2infra.client import DataType, Platform, SubscriptionBuilder, TopicNameBuilder
    platform = Platform.from_outputs_file("outputs.json")        # or Platform.from_topology("config", "prod")
    TopicNameBuilder(platform).build_topic_name("equities", DataType.TRADES, "asx")  # 'market.equities.trades.asx'
    SubscriptionBuilder(platform).subscribe_to_exchange("equities", "asx")
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from k2infra.client.errors import UnknownTopicError
from k2infra.client.platform import Exchange, Platform, Topic
from k2infra.model.outputs import topic_pattern
from k2infra.model.plan import Plan, load_plan
from k2infra.model.topology import topic_name

__all__ = [
    "DataType",
    "SubscriptionBuilder",
    "TopicNameBuilder",
    "UnknownTopicError",
    "get_subscription_builder",
    "get_topic_builder",
    "load_plan",
]


class DataType(StrEnum):
    """The topology's data types (config/kafka/topics.yaml `data_types`). A StrEnum: each member
    is its name as a string, so it goes wherever a data type name does."""

    TRADES = "trades"
    QUOTES = "quotes"
    REFERENCE_DATA = "reference_data"


def _check(kind: str, value: str, known: Iterable[str]) -> None:
    known = sorted(set(known))
    if value not in known:
        raise UnknownTopicError(f"unknown {kind} {value!r} (known: {', '.join(known)})")


class TopicNameBuilder:
    """Topic names and configs, checked against what the platform holds."""

    def __init__(self, source: Platform | Plan) -> None:
        self.platform = Platform.load(source)

    def build_topic_name(self, asset_class: str, data_type: str, exchange: str) -> str:
        return self.get_topic_config(asset_class, data_type, exchange).name

    def get_topic_config(self, asset_class: str, data_type: str, exchange: str) -> Topic:
        topics = self.platform.topics.values()
        _check("asset class", asset_class, (t.asset_class for t in topics))
        _check("exchange", exchange, (t.exchange for t in topics if t.asset_class == asset_class))
        _check(
            "data type",
            data_type,
            (t.data_type for t in topics if (t.asset_class, t.exchange) == (asset_class, exchange)),
        )
        return self.platform.topics[topic_name(asset_class, str(data_type), exchange)]

    def exchange(self, asset_class: str, code: str) -> Exchange:
        _check("exchange", f"{asset_class}.{code}", self.platform.exchanges)
        return self.platform.exchanges[f"{asset_class}.{code}"]

    def exchanges(self, asset_class: str | None = None) -> list[Exchange]:
        if asset_class is not None:
            _check("asset class", asset_class, (e.asset_class for e in self.platform.exchanges.values()))
        return [e for e in self.platform.exchanges.values() if asset_class in (None, e.asset_class)]


class SubscriptionBuilder:
    """Sorted topic lists for consumers that subscribe to only what they need, and patterns for
    consumers that should also receive exchanges added later."""

    def __init__(self, source: Platform | Plan) -> None:
        self.platform = Platform.load(source)

    def subscribe_to_exchange(self, asset_class: str, exchange: str) -> list[str]:
        _check("exchange", f"{asset_class}.{exchange}", self.platform.exchanges)
        return sorted(
            t.name for t in self.platform.topics.values() if (t.asset_class, t.exchange) == (asset_class, exchange)
        )

    def subscribe_to_asset_class(
        self, asset_class: str, data_types: Iterable[str] | None = None, exchanges: Iterable[str] | None = None
    ) -> list[str]:
        topics = [t for t in self.platform.topics.values() if t.asset_class == asset_class]
        _check("asset class", asset_class, (t.asset_class for t in self.platform.topics.values()))
        wanted_types = {str(dt) for dt in data_types} if data_types is not None else None
        wanted_exchanges = set(exchanges) if exchanges is not None else None
        for dt in wanted_types or ():
            _check("data type", dt, (t.data_type for t in topics))
        for ex in wanted_exchanges or ():
            _check(f"exchange of {asset_class}", ex, (t.exchange for t in topics))
        return sorted(
            t.name
            for t in topics
            if (wanted_types is None or t.data_type in wanted_types)
            and (wanted_exchanges is None or t.exchange in wanted_exchanges)
        )

    def subscribe_to_data_type(self, data_type: str) -> list[str]:
        _check("data type", str(data_type), (t.data_type for t in self.platform.topics.values()))
        return sorted(t.name for t in self.platform.topics.values() if t.data_type == data_type)

    # -- patterns: new exchanges reach these without a restart of the consumer ----------------------
    def exchange_pattern(self, asset_class: str, exchange: str) -> str:
        _check("exchange", f"{asset_class}.{exchange}", self.platform.exchanges)
        return topic_pattern(asset_class=asset_class, exchange=exchange)

    def asset_class_pattern(self, asset_class: str, data_types: Iterable[str] | None = None) -> str:
        """Every exchange of the class, today's and later ones, optionally only some data types."""
        topics = [t for t in self.platform.topics.values() if t.asset_class == asset_class]
        _check("asset class", asset_class, (t.asset_class for t in self.platform.topics.values()))
        wanted = sorted({str(dt) for dt in data_types}) if data_types is not None else None
        for dt in wanted or ():
            _check("data type", dt, (t.data_type for t in topics))
        return topic_pattern(asset_class=asset_class, data_type=wanted)

    def data_type_pattern(self, data_type: str) -> str:
        _check("data type", str(data_type), (t.data_type for t in self.platform.topics.values()))
        return topic_pattern(data_type=str(data_type))

    @staticmethod
    def pattern(asset_class: str | None = None, data_type: str | None = None, exchange: str | None = None) -> str:
        """A regex for pattern subscriptions; None matches any part (dots never match across parts)."""
        return topic_pattern(asset_class or None, str(data_type) if data_type else None, exchange or None)


def get_topic_builder(source: Platform | Plan) -> TopicNameBuilder:
    return TopicNameBuilder(source)


def get_subscription_builder(source: Platform | Plan) -> SubscriptionBuilder:
    return SubscriptionBuilder(source)
