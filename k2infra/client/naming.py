"""The app-facing library: topic names, topic specs, exchange metadata and subscriptions.

Pure functions of a Plan, importable without the Pulumi engine:

    from k2infra.client.naming import load_plan, TopicNameBuilder, SubscriptionBuilder
    plan = load_plan("config", stack="prod")
    TopicNameBuilder(plan).build_topic_name("equities", "trades", "asx")  # 'market.equities.trades.asx'
    SubscriptionBuilder(plan).subscribe_to_exchange("equities", "asx")
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from k2infra.model.plan import ExchangeInfo, Plan, TopicSpec, load_plan
from k2infra.model.topology import TOPIC_PREFIX, topic_name

__all__ = ["SubscriptionBuilder", "TopicNameBuilder", "UnknownTopicError", "load_plan"]


class UnknownTopicError(LookupError):
    """A name part that the plan does not hold; the message lists what it does hold."""


def _check(kind: str, value: str, known: Iterable[str]) -> None:
    known = sorted(set(known))
    if value not in known:
        raise UnknownTopicError(f"unknown {kind} {value!r} (known: {', '.join(known)})")


class TopicNameBuilder:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def build_topic_name(self, asset_class: str, data_type: str, exchange: str) -> str:
        return self.get_topic_config(asset_class, data_type, exchange).name

    def get_topic_config(self, asset_class: str, data_type: str, exchange: str) -> TopicSpec:
        topics = self.plan.topics
        _check("asset class", asset_class, (t.asset_class for t in topics))
        _check("exchange", exchange, (t.exchange for t in topics if t.asset_class == asset_class))
        _check(
            "data type",
            data_type,
            (t.data_type for t in topics if (t.asset_class, t.exchange) == (asset_class, exchange)),
        )
        spec = self.plan.topic(topic_name(asset_class, data_type, exchange))
        assert spec is not None  # every part was checked above
        return spec

    def exchange(self, asset_class: str, code: str) -> ExchangeInfo:
        _check("exchange", f"{asset_class}.{code}", (e.ref for e in self.plan.exchanges))
        return next(e for e in self.plan.exchanges if (e.asset_class, e.code) == (asset_class, code))


class SubscriptionBuilder:
    """Sorted topic lists for consumers that subscribe to only what they need."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def subscribe_to_exchange(self, asset_class: str, exchange: str) -> list[str]:
        _check("exchange", f"{asset_class}.{exchange}", (e.ref for e in self.plan.exchanges))
        return sorted(t.name for t in self.plan.topics if (t.asset_class, t.exchange) == (asset_class, exchange))

    def subscribe_to_asset_class(
        self, asset_class: str, data_types: Iterable[str] | None = None, exchanges: Iterable[str] | None = None
    ) -> list[str]:
        topics = [t for t in self.plan.topics if t.asset_class == asset_class]
        _check("asset class", asset_class, (t.asset_class for t in self.plan.topics))
        wanted_types = set(data_types) if data_types is not None else None
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
        _check("data type", data_type, (t.data_type for t in self.plan.topics))
        return sorted(t.name for t in self.plan.topics if t.data_type == data_type)

    @staticmethod
    def pattern(asset_class: str | None = None, data_type: str | None = None, exchange: str | None = None) -> str:
        """A regex for pattern subscriptions; None matches any part (dots never match across parts)."""
        parts = [re.escape(p) if p else r"[a-z][a-z0-9_]*" for p in (asset_class, data_type, exchange)]
        return rf"^{TOPIC_PREFIX}\." + r"\.".join(parts) + "$"
