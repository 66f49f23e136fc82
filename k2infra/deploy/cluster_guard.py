"""Before any change: can the run reach the cluster and the registry, and can Kafka place what it creates?

Two checks, made at preview and at `up` by the preflight (k2infra.deploy.preflight) before the
topics (and the subjects) are registered:

- **connections** (made by the preflight's read): one Metadata request over the stack's own
  settings (k2infra.live.admin.KafkaAdmin, as `verify` uses it) and one authenticated registry request. A
  wrong SASL password or mechanism, TLS off against a TLS listener, an untrusted CA or wrong
  registry credentials end the run with one line naming the cause and the setting
  (`k2infra.live.admin.kafka_failure` / `k2infra.live.cluster.registry_failure`, the one place those are worded),
  whatever Kafka provider plugin runs the topics: the program does not rely on the wording of
  ours or upstream's. Without this check a changed registry password would show as an update of
  every subject's connection and pass, since nothing else asks the registry when no schema changed.
  A registry that does not answer at all is left to the subjects: each reports it with
  its own name, and a change of topics alone still goes through.
- **placement**: a new topic, or new partitions of one, are refused while fewer brokers are live
  than the replication factor. "Live" is what a Metadata answer lists: unfenced brokers. A broker
  that shut down is fenced at once (one that died, after broker.session.timeout.ms) and drops out
  of that list, while its node id stays in the replica lists it holds, which is how the message
  names the missing node. Kafka itself would not refuse: KRaft's placer counts registered
  brokers, fenced ones included (runbook §13 has the measurement), so the new topics would be born
  under-replicated, one more failure away from refusing acks=all writes. Kafka fails the create
  (INVALID_REPLICATION_FACTOR, "only N broker(s) are registered") only when fewer brokers are
  registered at all; a cluster smaller than the factor with no broker missing (a prod-shaped
  preview against the one-broker dev platform) is left to that. Existing topics keep working with
  a broker down (ISR 2 of 3), so nothing else is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from k2infra.live.admin import BrokerView
from k2infra.model.plan import LegacyTopic, TopicSpec

# How its refusal opens (the change summary names the guard by it).
REFUSAL = "refusing to create topics or partitions while brokers are down"


def placements(topics: Iterable[TopicSpec | LegacyTopic], live_partitions: Mapping[str, int]) -> list[tuple[str, str]]:
    """(topic, what Kafka must place) for each planned topic that is new or gains partitions."""
    out: list[tuple[str, str]] = []
    for spec in topics:
        live = live_partitions.get(spec.name)
        if live is None:
            out.append((spec.name, f"new topic, replication factor {spec.replication_factor}"))
        elif spec.partitions > live:
            out.append(
                (spec.name, f"{live} -> {spec.partitions} partitions, replication factor {spec.replication_factor}")
            )
    return out


def refusals(
    topics: Iterable[TopicSpec | LegacyTopic], live_partitions: Mapping[str, int], brokers: BrokerView
) -> list[str]:
    """Refuse new topics or partitions whose replication factor exceeds the live brokers while a
    broker that holds replicas is down. A cluster that is simply smaller than the factor is left to
    Kafka, which refuses that create itself ("only N broker(s) are registered"), and whose preview
    (a prod-shaped stack against a one-broker dev cluster) must keep working."""
    if not brokers.missing:
        return []
    specs = {t.name: t for t in topics if not isinstance(t, LegacyTopic)}  # legacy topics are imported, never created
    alive = len(brokers.live)
    short = [
        (n, what) for n, what in placements(specs.values(), live_partitions) if specs[n].replication_factor > alive
    ]
    if not short:
        return []
    needed = max(specs[name].replication_factor for name, _ in short)
    nodes = ", ".join(map(str, brokers.missing))
    return [
        f"{REFUSAL}: replication factor {needed} needs "
        f"{needed} live brokers; {brokers.describe()}. Kafka would still place replicas on node {nodes}, and the "
        f"new partitions would start under-replicated. Start node {nodes} or wait until it rejoins, then run "
        "again; nothing was changed:\n" + "\n".join(f"  {name}: {what}" for name, what in short)
    ]
