"""Realistic market-data records for the platform's schemas: a few instruments per exchange,
prices that walk, sequence numbers that grow per topic, timestamps in microseconds (UTC)."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from k2infra.client import DataType, Topic


@dataclass(frozen=True)
class Instrument:
    symbol: str
    name: str
    reference_price: Decimal
    isin: str | None = None  # equities
    sector: str | None = None
    base_asset: str | None = None  # crypto
    quote_asset: str | None = None


INSTRUMENTS: dict[tuple[str, str], list[Instrument]] = {
    ("equities", "asx"): [
        Instrument("BHP", "BHP Group Ltd", Decimal("45.12"), "AU000000BHP4", "Materials"),
        Instrument("CBA", "Commonwealth Bank of Australia", Decimal("158.40"), "AU000000CBA7", "Financials"),
        Instrument("CSL", "CSL Ltd", Decimal("286.95"), "AU000000CSL8", "Health Care"),
        Instrument("WBC", "Westpac Banking Corp", Decimal("31.07"), "AU000000WBC1", "Financials"),
    ],
    ("equities", "nyse"): [
        Instrument("IBM", "International Business Machines Corp", Decimal("251.30"), "US4592001014", "Technology"),
        Instrument("KO", "Coca-Cola Co", Decimal("68.85"), "US1912161007", "Consumer Staples"),
        Instrument("JPM", "JPMorgan Chase & Co", Decimal("242.10"), "US46625H1005", "Financials"),
    ],
    ("crypto", "binance"): [
        Instrument("BTCUSDT", "Bitcoin / Tether", Decimal("97250.50"), base_asset="BTC", quote_asset="USDT"),
        Instrument("ETHUSDT", "Ether / Tether", Decimal("3480.25"), base_asset="ETH", quote_asset="USDT"),
        Instrument("SOLUSDT", "Solana / Tether", Decimal("182.40"), base_asset="SOL", quote_asset="USDT"),
    ],
}
CURRENCIES = {"asx": "AUD", "nyse": "USD", "nasdaq": "USD", "lse": "GBP", "tse": "JPY"}
VENUES = {"asx": "XASX", "nyse": "XNYS", "nasdaq": "XNAS", "lse": "XLON", "tse": "XTKS"}
EQUITY = Decimal("0.000001")  # scale 6 of the equities schemas
CRYPTO = Decimal("0.00000001")  # what Binance quotes; the schemas take up to 18 places


def instruments(asset_class: str, exchange: str) -> list[Instrument]:
    """The known instruments of an exchange, or two made-up ones for an exchange added later."""
    known = INSTRUMENTS.get((asset_class, exchange))
    if known is not None:
        return known
    code = exchange.upper()
    if asset_class == "crypto":
        return [Instrument(f"BTC{code}", "Bitcoin", Decimal("97000"), base_asset="BTC", quote_asset=code)]
    return [
        Instrument(f"{code}A", f"{code} Alpha Ltd", Decimal("20.00"), f"XX{code[:4]:0<4}00001", "Industrials"),
        Instrument(f"{code}B", f"{code} Beta Ltd", Decimal("75.50"), f"XX{code[:4]:0<4}00002", "Utilities"),
    ]


class RecordFactory:
    """Records for a topic, valid against the schema its subject holds today."""

    def __init__(self, seed: int = 7, now: datetime | None = None) -> None:
        self.random = random.Random(seed)
        self.clock = now or datetime.now(UTC)
        self.sequence: dict[str, int] = defaultdict(int)
        self.last_price: dict[tuple[str, str], Decimal] = {}
        self.trade_ids = 0

    def record(self, topic: Topic, instrument: Instrument) -> dict[str, Any]:
        make = {
            ("equities", DataType.TRADES): self._equity_trade,
            ("equities", DataType.QUOTES): self._equity_quote,
            ("equities", DataType.REFERENCE_DATA): self._equity_reference,
            ("crypto", DataType.TRADES): self._crypto_trade,
            ("crypto", DataType.QUOTES): self._crypto_quote,
            ("crypto", DataType.REFERENCE_DATA): self._crypto_reference,
        }.get((topic.asset_class, topic.data_type))
        if make is None:
            raise ValueError(f"no example records for {topic.asset_class} {topic.data_type} ({topic.name})")
        self.sequence[topic.name] += 1
        event = self._tick()
        common = {
            "symbol": instrument.symbol,
            "exchange": topic.exchange,
            "event_timestamp": event,
            "ingest_timestamp": event + timedelta(microseconds=self.random.randint(300, 4000)),
            "sequence_number": self.sequence[topic.name],
        }
        return {**common, **make(topic, instrument)}

    # -- equities ------------------------------------------------------------------------------
    def _equity_trade(self, topic: Topic, i: Instrument) -> dict[str, Any]:
        self.trade_ids += 1
        return {
            "isin": i.isin,
            "venue": VENUES.get(topic.exchange),
            "trade_id": f"{topic.exchange.upper()}-{self.trade_ids:09d}",
            "price": self._walk(topic.exchange, i, EQUITY),
            "quantity": self.random.choice([1, 10, 50, 100, 250, 500, 1000]),
            "currency": CURRENCIES.get(topic.exchange, "USD"),
            "aggressor_side": self.random.choice(["BUY", "SELL", None]),
            "conditions": self.random.choice([[], [], ["XT"], ["LT"]]),
        }

    def _equity_quote(self, topic: Topic, i: Instrument) -> dict[str, Any]:
        mid = self._walk(topic.exchange, i, EQUITY)
        half = (mid * Decimal("0.0002")).quantize(EQUITY)
        return {
            "isin": i.isin,
            "currency": CURRENCIES.get(topic.exchange, "USD"),
            "bid_price": mid - half,
            "bid_size": self.random.randint(1, 50) * 100,
            "bid_count": self.random.randint(1, 12),
            "ask_price": mid + half,
            "ask_size": self.random.randint(1, 50) * 100,
            "ask_count": self.random.randint(1, 12),
        }

    def _equity_reference(self, topic: Topic, i: Instrument) -> dict[str, Any]:
        return {
            "isin": i.isin or "",
            "name": i.name,
            "security_type": "ORDINARY_SHARE",
            "currency": CURRENCIES.get(topic.exchange, "USD"),
            "lot_size": 1,
            "tick_size": Decimal("0.005") if i.reference_price < 100 else Decimal("0.010"),
            "sector": i.sector,
            "listing_status": "LISTED",
            "listed_date": date(1988, 8, 1),
            "delisted_date": None,
            "shares_outstanding": self.random.randint(500, 5000) * 1_000_000,
        }

    # -- crypto --------------------------------------------------------------------------------
    def _crypto_trade(self, topic: Topic, i: Instrument) -> dict[str, Any]:
        self.trade_ids += 1
        price = self._walk(topic.exchange, i, CRYPTO)
        quantity = Decimal(self.random.randint(1, 500_000)) * CRYPTO * 100
        return {
            "base_asset": i.base_asset or "",
            "quote_asset": i.quote_asset or "",
            "trade_id": str(3_800_000_000 + self.trade_ids),
            "price": price,
            "quantity": quantity,
            "quote_quantity": (price * quantity).quantize(CRYPTO),
            "is_buyer_maker": self.random.random() < 0.5,
        }

    def _crypto_quote(self, topic: Topic, i: Instrument) -> dict[str, Any]:
        mid = self._walk(topic.exchange, i, CRYPTO)
        return {
            "base_asset": i.base_asset or "",
            "quote_asset": i.quote_asset or "",
            "bid_price": mid - Decimal("0.01"),
            "bid_size": Decimal(self.random.randint(1, 900)) / 100,
            "ask_price": mid + Decimal("0.01"),
            "ask_size": Decimal(self.random.randint(1, 900)) / 100,
        }

    def _crypto_reference(self, topic: Topic, i: Instrument) -> dict[str, Any]:
        return {
            "base_asset": i.base_asset or "",
            "quote_asset": i.quote_asset or "",
            "status": "TRADING",
            "price_precision": 2,
            "quantity_precision": 5,
            "tick_size": Decimal("0.01"),
            "step_size": Decimal("0.00001"),
            "min_quantity": Decimal("0.00001"),
            "max_quantity": Decimal("9000"),
            "min_notional": Decimal("5"),
            "order_types": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT"],
        }

    # -- helpers -------------------------------------------------------------------------------
    def _tick(self) -> datetime:
        self.clock += timedelta(microseconds=self.random.randint(50, 250_000))
        return self.clock

    def _walk(self, exchange: str, i: Instrument, step: Decimal) -> Decimal:
        last = self.last_price.get((exchange, i.symbol), i.reference_price)
        moved = last * (1 + Decimal(self.random.gauss(0, 0.0005)))
        self.last_price[(exchange, i.symbol)] = moved
        return moved.quantize(step)
