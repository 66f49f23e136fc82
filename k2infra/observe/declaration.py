"""What one stack's monitoring watches: the plan's exchanges, topics and consumer apps, with the
objectives the declaration sets for them (lag SLOs, trading hours, silence limits).

The Plan says what exists in the stack (enabled exchanges, each app's topics today); the objectives
are read from the validated Topology and Apps themselves, not copied into the Plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from k2infra.model.apps import AppAccess, Apps, Slo, load_apps
from k2infra.model.plan import ExchangeInfo, Plan, TopicSpec
from k2infra.model.topology import Topology, TradingSession, load_topology


@dataclass(frozen=True)
class Watched:
    plan: Plan
    topology: Topology
    apps: Apps

    @classmethod
    def load(cls, config_dir: Path | str, plan: Plan) -> Watched:
        """The declaration behind `plan` (read again: load_plan validated it, so this cannot fail)."""
        topology = load_topology(config_dir).topology
        return cls(plan, topology, load_apps(config_dir, topology))

    def feeds(self, exchange: ExchangeInfo) -> list[TopicSpec]:
        """The exchange's topics in this stack, in the plan's order."""
        return [t for t in self.plan.topics if (t.asset_class, t.exchange) == (exchange.asset_class, exchange.code)]

    def consumers(self) -> list[AppAccess]:
        """The apps that read with a consumer group some hierarchical topic of this stack."""
        return self.plan.consumers()

    def reads(self, app: AppAccess) -> list[TopicSpec]:
        """The hierarchical topics of this stack that `app` reads (legacy topics are not watched)."""
        return [t for name in app.reads if (t := self.plan.topic(name)) is not None]

    def consumers_of(self, exchange: ExchangeInfo) -> list[tuple[AppAccess, list[TopicSpec]]]:
        """Each consumer app that reads some topic of the exchange, with those topics."""
        out = []
        for app in self.consumers():
            topics = [
                t for t in self.reads(app) if (t.asset_class, t.exchange) == (exchange.asset_class, exchange.code)
            ]
            if topics:
                out.append((app, topics))
        return out

    def slo(self, app: AppAccess) -> Slo:
        declared = next(a for a in self.apps.apps if a.name == app.name)
        return self.apps.slo(declared)

    def trading_hours(self, exchange: ExchangeInfo) -> tuple[TradingSession, ...] | None:
        return self.topology.trading_hours(exchange.asset_class, exchange.code)

    def silence_limit(self, exchange: ExchangeInfo) -> timedelta | None:
        return self.topology.silence_limit(exchange.asset_class, exchange.code)

    def silence_watched(self, exchange: ExchangeInfo) -> list[str]:
        """The exchange's data types whose silence is an outage (not those declared silence_alerts: false)."""
        return [t.data_type for t in self.feeds(exchange) if self.topology.data_types[t.data_type].silence_alerts]
