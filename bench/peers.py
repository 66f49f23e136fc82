"""The peers: Jikkou and topicctl, on the same broker and the same generated topics as k2infra.

tools/bench/install-peers.sh installs them from package registries (topicctl from the Go module
proxy, Jikkou's library from Maven Central plus our driver, bench/jikkou/JikkouBench.java) and
writes $K2_TOOLS_DIR/peers/peers.env, read here by `locate`.

How each is driven (the figures are whole processes: JVM or Go start-up included):
- Jikkou: `JikkouBench BOOTSTRAP TOPICS_JSON apply|diff|delete`: one reconcile of every topic; its
  topic controller sends every create in one CreateTopics request ("one batch", unsplit), every
  delete in one DeleteTopics request.
- topicctl: `topicctl apply --skip-confirm` on one file of every topic's config (YAML documents);
  it applies them one topic at a time (create, then a sleep of --sleep-loop-duration / 5, then
  the placement and leader checks), `topicctl check` for the read-only no-change run. It has no
  command that deletes a topic (v1.17.0: `delete` removes ACLs only).

The phases (PHASES) at each size, for every tool: create from empty; a no-change run; add one
exchange (its topics); raise one exchange's partitions; delete everything.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.floor import TopicWanted

PHASES = ("create", "no_change", "add_exchange", "raise_partitions", "delete")
PEERS_ENV = "peers.env"
TOPICCTL_CLUSTER = "k2bench"
TOPICCTL_TUNED_SLEEP = "100ms"
TOPICCTL_SHIPPED_SLEEP = "10s"  # topicctl v1.17.0's default --sleep-loop-duration


@dataclass(frozen=True)
class PeerTools:
    topicctl: str | None
    topicctl_version: str | None
    jikkou_java: str | None
    jikkou_classpath: str | None
    jikkou_version: str | None
    jikkou_java_version: str | None

    @property
    def jikkou(self) -> bool:
        return bool(self.jikkou_java and self.jikkou_classpath)


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines (values optionally in single or double quotes), as install-peers.sh writes."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        parts = shlex.split(value) if value else [""]
        out[key.strip()] = parts[0] if parts else ""
    return out


def locate(tools_dir: Path | None = None) -> PeerTools | None:
    """The installed peers ($K2_TOOLS_DIR/peers/peers.env), or None when not installed."""
    tools_dir = tools_dir or Path(os.environ.get("K2_TOOLS_DIR", Path.home() / ".cache" / "k2infra" / "tools"))
    path = tools_dir / "peers" / PEERS_ENV
    if not path.exists():
        return None
    env = parse_env_file(path.read_text())
    return PeerTools(
        topicctl=env.get("TOPICCTL"),
        topicctl_version=env.get("TOPICCTL_VERSION"),
        jikkou_java=env.get("JIKKOU_JAVA"),
        jikkou_classpath=env.get("JIKKOU_CLASSPATH"),
        jikkou_version=env.get("JIKKOU_VERSION"),
        jikkou_java_version=env.get("JIKKOU_JAVA_VERSION"),
    )


# -- inputs ----------------------------------------------------------------------------------------


def topics_json(topics: Sequence[TopicWanted]) -> str:
    """The driver's input: every topic's name, partitions, replication factor and configs."""
    return json.dumps(
        [
            {"name": t.name, "partitions": t.partitions, "replication_factor": t.replication_factor, "config": t.config}
            for t in topics
        ]
    )


def topicctl_cluster_yaml(bootstrap_servers: str) -> str:
    return yaml.safe_dump(
        {
            "meta": {
                "name": TOPICCTL_CLUSTER,
                "environment": "bench",
                "region": "local",
                "description": "the benchmark's broker",
            },
            "spec": {"bootstrapAddrs": [s.strip() for s in bootstrap_servers.split(",") if s.strip()]},
        },
        sort_keys=False,
    )


def topicctl_topics_yaml(topics: Sequence[TopicWanted]) -> str:
    """One YAML document per topic (topicctl reads `---`-separated topic configs from one file)."""
    docs = []
    for t in topics:
        docs.append(
            yaml.safe_dump(
                {
                    "meta": {
                        "name": t.name,
                        "cluster": TOPICCTL_CLUSTER,
                        "environment": "bench",
                        "region": "local",
                        "description": "k2infra benchmark topic",
                    },
                    "spec": {
                        "partitions": t.partitions,
                        "replicationFactor": t.replication_factor,
                        "placement": {"strategy": "any"},
                        "settings": {key: str(value) for key, value in sorted(t.config.items())},
                    },
                },
                sort_keys=False,
            )
        )
    return "---\n".join(docs)


# -- outputs ---------------------------------------------------------------------------------------


def parse_jikkou_output(stdout: str) -> dict[str, Any]:
    """The driver's JSON line (the last line that parses as a JSON object); {} when none."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def jikkou_error(document: Mapping[str, Any], stderr: str = "") -> str:
    """One line saying why a Jikkou run failed: its first error, else the end of stderr."""
    errors = document.get("errors") or []
    if errors:
        failed = document.get("failed")
        return f"{failed} of {document.get('topics')} changes failed: {str(errors[0])[:300]}"
    tail = [line for line in stderr.strip().splitlines() if line.strip()]
    return tail[-1][:300] if tail else "no output"


def changed_topics(before: Sequence[TopicWanted], after: Sequence[TopicWanted]) -> dict[str, list[str]]:
    """Which topics a change adds, removes, or alters (partitions or configs)."""
    old = {t.name: t for t in before}
    new = {t.name: t for t in after}
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "altered": sorted(name for name in set(old) & set(new) if old[name] != new[name]),
    }


def describe(tools: PeerTools | None) -> dict[str, Any]:
    """Which version of each peer ran and how it was driven (for the docs)."""
    if tools is None:
        return {}
    out: dict[str, Any] = {}
    if tools.jikkou:
        out["jikkou"] = {
            "version": tools.jikkou_version,
            "source": "io.streamthoughts:jikkou-core and jikkou-provider-kafka from Maven Central",
            "driven": (
                "its engine (JikkouContext, DefaultApi) driven by bench/jikkou/JikkouBench.java, "
                f"on {tools.jikkou_java_version}; one reconcile of every topic: one CreateTopics (or "
                "DeleteTopics) request for all of them, unsplit; no-change = apply (reconcile) and diff; "
                "JVM start included"
            ),
        }
    if tools.topicctl:
        out["topicctl"] = {
            "version": tools.topicctl_version,
            "source": "github.com/segmentio/topicctl from the Go module proxy, built from source",
            "driven": (
                "`topicctl apply --skip-confirm` on one file of every topic's config, which it applies "
                f"one topic at a time; tuned: --sleep-loop-duration {TOPICCTL_TUNED_SLEEP}; as shipped: "
                f"{TOPICCTL_SHIPPED_SLEEP} (a create then sleeps 2 s); no-change = apply and `topicctl check`; "
                "no topic delete command (v1.17.0's `delete` removes ACLs only)"
            ),
        }
    return out
