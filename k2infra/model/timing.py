"""Durations as Prometheus writes them ('30s', '2m', '1h30m'), and trading hours ('mon-fri 10:00-16:00').

The SLO's `for` and the silence limits end up in Prometheus rules, so they are declared in
Prometheus's own duration syntax and written back in it. Trading hours are a one-line string per
session because PyYAML reads an unquoted `10:00` as the sexagesimal integer 600: a mapping of
`open: 10:00` would silently mean something else.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from k2infra.model.errors import describe, did_you_mean

# Prometheus's units, largest first: a duration names each at most once, in this order.
_UNITS: dict[str, timedelta] = {
    "y": timedelta(days=365),
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_PART = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = Python's weekday()
_SESSION = re.compile(r"^\s*(?P<days>\S+)\s+(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})\s*$")
SESSION_EXAMPLE = "'mon-fri 10:00-16:00'"


def parse_duration(text: str) -> timedelta | None:
    """'1h30m' -> 90 minutes; None unless `text` is a Prometheus duration (units in order, each once)."""
    position, total, order = 0, timedelta(), list(_UNITS)
    last = -1
    for match in _PART.finditer(text):
        if match.start() != position:
            return None
        index = order.index(match.group(2))
        if index <= last:
            return None
        last = index
        total += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total if position == len(text) and text else None


def prometheus_duration(value: timedelta) -> str:
    """A duration in Prometheus's syntax, largest units first: 90 s -> '1m30s'."""
    remaining = value
    parts: list[str] = []
    for unit, size in _UNITS.items():
        if unit == "y":
            continue  # years are 365 days for Prometheus, but '52w1d' reads better than a rounded year
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _positive_duration(value: Any) -> timedelta:
    # A timedelta comes from code (DEFAULT_SLO); YAML only ever gives a string.
    duration = value if isinstance(value, timedelta) else parse_duration(value) if isinstance(value, str) else None
    if duration is None or duration <= timedelta(0):
        raise PydanticCustomError(
            "k2_duration",
            "must be a positive duration such as '30s', '2m' or '1h30m', got {got}",
            {"got": describe(value)},
        )
    return duration


PositiveDuration = Annotated[timedelta, BeforeValidator(_positive_duration)]


class TradingSession(BaseModel):
    """One trading session of an exchange, in its local time: the days it runs, when it opens and closes."""

    model_config = ConfigDict(frozen=True, strict=True)

    days: tuple[int, ...]  # Python weekdays, Monday 0
    open: time
    close: time  # time.max stands for 24:00

    def covers(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.open <= local.time() < self.close

    @property
    def open_minute(self) -> int:
        return self.open.hour * 60 + self.open.minute

    @property
    def close_minute(self) -> int:
        return 24 * 60 if self.close == time.max else self.close.hour * 60 + self.close.minute

    def describe(self) -> str:
        close = "24:00" if self.close == time.max else self.close.strftime("%H:%M")
        return f"{','.join(DAYS[d] for d in self.days)} {self.open.strftime('%H:%M')}-{close}"


def parse_session(text: str) -> TradingSession:
    """'mon-fri 10:00-16:00' (days: mon..sun, ranges such as sun-thu, commas, or 'daily')."""
    match = _SESSION.match(text)
    if match is None:
        raise ValueError(f"must be 'DAYS HH:MM-HH:MM' such as {SESSION_EXAMPLE}, got {text!r}")
    days = _days(match.group("days").lower())
    opens, closes = _clock(match.group("open")), _clock(match.group("close"))
    if opens is None or opens == time.max:
        raise ValueError(f"opening time {match.group('open')!r} is not a time of day (00:00 to 23:59)")
    if closes is None:
        raise ValueError(f"closing time {match.group('close')!r} is not a time of day (00:00 to 24:00)")
    if closes <= opens:
        raise ValueError(
            f"opens at {match.group('open')} but closes at {match.group('close')}: "
            f"a session past midnight is two sessions ('mon-fri 22:00-24:00', 'tue-sat 00:00-02:00')"
        )
    return TradingSession(days=days, open=opens, close=closes)


def _days(text: str) -> tuple[int, ...]:
    if text == "daily":
        return tuple(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        start, end = _day(first), _day(last) if dash else _day(first)
        # A range may wrap around the week: sun-thu is Sunday to Thursday.
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    return tuple(sorted(days))


def _day(name: str) -> int:
    if name in DAYS:
        return DAYS.index(name)
    close = did_you_mean(name, [*DAYS, "daily"])
    hint = f"did you mean '{close}'?" if close else "days are mon, tue, wed, thu, fri, sat, sun, or daily"
    raise ValueError(f"unknown day {name!r} ({hint})")


def _clock(text: str) -> time | None:
    hours, minutes = (int(part) for part in text.split(":"))
    if (hours, minutes) == (24, 0):
        return time.max
    if hours > 23 or minutes > 59:
        return None
    return time(hours, minutes)


def _session(value: Any) -> TradingSession:
    if isinstance(value, TradingSession):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "k2_session",
            "must be a session such as {example}, got {got}",
            {"example": SESSION_EXAMPLE, "got": describe(value)},
        )
    try:
        return parse_session(value)
    except ValueError as exc:
        raise PydanticCustomError("k2_session", str(exc)) from None


# One session as the topology writes it; the topology's `trading_hours` takes one or a list of them.
Session = Annotated[TradingSession, BeforeValidator(_session)]


def trading_at(sessions: tuple[TradingSession, ...] | None, timezone: str, at: datetime) -> bool:
    """Is an exchange with these sessions (None: around the clock) trading at the instant `at`?"""
    if sessions is None:
        return True
    local = at.astimezone(ZoneInfo(timezone))
    return any(session.covers(local) for session in sessions)
