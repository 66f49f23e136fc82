"""The metrics K2's exporter exposes: one constant per metric, with its labels and help.

Names follow Prometheus's conventions (`k2_` prefix, base units in the name: `_seconds`, `_records`,
`_per_second`; gauges only, since every value is a state read from the cluster at one instant).
Labels come from the declaration: asset_class, data_type and exchange from the topology, app and
group from apps.yaml, so that no relabeling regex is ever needed. The alert rules, the dashboards
and (later) the exporter all name metrics through these constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Label sets, from the topology and apps.yaml.
FEED_LABELS = ("asset_class", "data_type", "exchange")
CONSUMER_LABELS = ("app", "group", *FEED_LABELS)
MIRROR_LABELS = (*FEED_LABELS, "region", "source_stack")  # a regional stack's copies (docs/regions.md)


class ConsumerState(StrEnum):
    """The state of one app's group on one exchange's data type (the `state` label of k2_consumer_state)."""

    OK = "ok"
    LAGGING = "lagging"  # lag in seconds over the app's SLO
    STALLED = "stalled"  # lag > 0 and the committed offset has not moved for a window
    NO_ACTIVE_CONSUMER = "no_active_consumer"  # committed offsets, but no member in the group
    NOT_STARTED = "not_started"  # no committed offset yet


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    labels: tuple[str, ...] = ()
    kind: str = "gauge"


CONSUMER_LAG_SECONDS = Metric(
    "k2_consumer_lag_seconds",
    "Now minus the timestamp of the oldest record the group has not consumed yet (0 when caught up).",
    CONSUMER_LABELS,
)
CONSUMER_LAG_RECORDS = Metric(
    "k2_consumer_lag_records", "End offset minus committed offset, summed over the partitions.", CONSUMER_LABELS
)
CONSUMER_STATE = Metric(
    "k2_consumer_state",
    f"1 for the group's current state, 0 for the others ({', '.join(ConsumerState)}).",
    (*CONSUMER_LABELS, "state"),
)
FEED_LAST_RECORD_AGE_SECONDS = Metric(
    "k2_feed_last_record_age_seconds", "Now minus the timestamp of the newest record of the topic.", FEED_LABELS
)
FEED_RECORDS_PER_SECOND = Metric(
    "k2_feed_records_per_second", "Records appended per second, from end-offset deltas between reads.", FEED_LABELS
)
FEED_BYTES_PER_SECOND = Metric(
    "k2_feed_bytes_per_second",
    "Bytes appended per second, estimated: each partition's records x the size of its newest record.",
    FEED_LABELS,
)
PARTITION_SKEW_RATIO = Metric(
    "k2_partition_skew_ratio",
    "The hottest partition's share of the topic's records over the last interval (1/partitions when even).",
    ("topic",),
)
MIRROR_LAG_RECORDS = Metric(
    "k2_mirror_lag_records",
    "Records of the source topic not yet copied to the region (those written after the copy's newest record).",
    MIRROR_LABELS,
)
MIRROR_LAG_SECONDS = Metric(
    "k2_mirror_lag_seconds",
    "Now minus the timestamp of the oldest source record not yet copied to the region (0 when in step).",
    MIRROR_LABELS,
)
MIRROR_SOURCE_UP = Metric(
    "k2_mirror_source_up",
    "On a regional stack: 1 when the last read of the source cluster succeeded, else 0.",
    ("region", "source_stack"),
)
EXPORTER_UP = Metric("k2_exporter_up", "1 when the exporter's last read of the cluster succeeded, else 0.")
EXPORTER_READ_SECONDS = Metric("k2_exporter_read_seconds", "How long the exporter's last read of the cluster took.")

EXPORTED = (
    CONSUMER_LAG_SECONDS,
    CONSUMER_LAG_RECORDS,
    CONSUMER_STATE,
    FEED_LAST_RECORD_AGE_SECONDS,
    FEED_RECORDS_PER_SECOND,
    FEED_BYTES_PER_SECOND,
    PARTITION_SKEW_RATIO,
    MIRROR_LAG_RECORDS,
    MIRROR_LAG_SECONDS,
    MIRROR_SOURCE_UP,
    EXPORTER_UP,
    EXPORTER_READ_SECONDS,
)

# Recorded by the generated rules (k2infra.observe.alerts), not exported: 1 while the exchange is
# in its trading hours, else 0. Named level:metric:operation, as Prometheus recommends.
EXCHANGE_TRADING = Metric(
    "exchange:k2_trading_hours:bool",
    "1 while the exchange is within its declared trading hours (local time), else 0.",
    ("asset_class", "exchange"),
)
EXCHANGE_LOCAL_TIME = Metric(
    "exchange:k2_local_time:seconds",
    "Now as a Unix timestamp shifted by the exchange's UTC offset: hour(), minute(), day_of_week() of it are local.",
    ("asset_class", "exchange"),
)
RECORDED = (EXCHANGE_LOCAL_TIME, EXCHANGE_TRADING)

NAMES = frozenset(m.name for m in (*EXPORTED, *RECORDED))


def selector(metric: Metric, **matchers: str) -> str:
    """`k2_consumer_lag_seconds{app="x"}`: the metric with equality matchers on its own labels."""
    unknown = sorted(set(matchers) - set(metric.labels))
    if unknown:
        raise ValueError(f"{metric.name} has no label {', '.join(unknown)} (labels: {', '.join(metric.labels)})")
    if not matchers:
        return metric.name
    inner = ",".join(f"{key}={quote(value)}" for key, value in matchers.items())
    return f"{metric.name}{{{inner}}}"


def quote(value: str) -> str:
    """A PromQL string literal (its escapes are Go's, which JSON's cover for these names)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
