"""The peers, Jikkou and topicctl, on the same broker and the same generated topics as k2infra.

tools/bench/install-peers.sh installs them and writes $K2_TOOLS_DIR/peers/peers.env, read by
`locate`. How each is driven (docs/benchmarks.md, "The peers"): Jikkou by
`JikkouBench BOOTSTRAP TOPICS_JSON apply|diff|delete` (bench/jikkou/JikkouBench.java, a driver of
its engine); topicctl by `apply --skip-confirm` or `check` on one file of every topic's config (YAML
documents). topicctl has no command that deletes a topic (`delete` removes ACLs only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.floor import TopicWanted

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
    return dict(word.split("=", 1) for word in shlex.split(text, comments=True) if "=" in word)


def locate(tools_dir: Path | None = None) -> PeerTools | None:
    """The installed peers ($K2_TOOLS_DIR/peers/peers.env), or None when not installed."""
    tools_dir = tools_dir or Path(os.environ.get("K2_TOOLS_DIR", Path.home() / ".cache" / "k2infra" / "tools"))
    path = tools_dir / "peers" / PEERS_ENV
    if not path.exists():
        return None
    env = parse_env_file(path.read_text())
    return PeerTools(*(env.get(field.name.upper()) for field in dataclasses.fields(PeerTools)))


# -- inputs ----------------------------------------------------------------------------------------


def topics_json(topics: Sequence[TopicWanted]) -> str:
    """The driver's input: every topic's name, partitions, replication factor and configs."""
    return json.dumps([dataclasses.asdict(t) for t in topics])


def _meta(name: str, description: str) -> dict[str, str]:
    return {"name": name, "environment": "bench", "region": "local", "description": description}


def topicctl_cluster_yaml(bootstrap_servers: str) -> str:
    addresses = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    return yaml.safe_dump(
        {"meta": _meta(TOPICCTL_CLUSTER, "the benchmark's broker"), "spec": {"bootstrapAddrs": addresses}}
    )


def topicctl_topics_yaml(topics: Sequence[TopicWanted]) -> str:
    """One YAML document per topic (topicctl reads `---`-separated topic configs from one file)."""
    spec = lambda t: {  # noqa: E731
        "partitions": t.partitions,
        "replicationFactor": t.replication_factor,
        "placement": {"strategy": "any"},
        "settings": {key: str(value) for key, value in sorted(t.config.items())},
    }
    meta = lambda t: {**_meta(t.name, "k2infra benchmark topic"), "cluster": TOPICCTL_CLUSTER}  # noqa: E731
    return "---\n".join(yaml.safe_dump({"meta": meta(t), "spec": spec(t)}, sort_keys=False) for t in topics)


# -- outputs ---------------------------------------------------------------------------------------


def parse_jikkou_output(stdout: str) -> dict[str, Any]:
    """The driver's JSON line (the last line that parses as a JSON object); {} when none."""
    for line in reversed(stdout.splitlines()):
        if line.strip().startswith("{"):  # a line that parses is then an object
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(line)
    return {}


def jikkou_error(document: Mapping[str, Any], stderr: str = "") -> str:
    """One line saying why a Jikkou run failed: its first error, else the end of stderr."""
    errors = document.get("errors") or []
    if errors:
        failed = document.get("failed")
        return f"{failed} of {document.get('topics')} changes failed: {str(errors[0])[:300]}"
    tail = [line for line in stderr.strip().splitlines() if line.strip()]
    return tail[-1][:300] if tail else "no output"


def versions(tools: PeerTools | None) -> dict[str, Any]:
    """Which version of each peer ran (for the results' meta.versions)."""
    if tools is None:
        return {}
    return {
        "jikkou": tools.jikkou_version if tools.jikkou else None,
        "jikkou_java": tools.jikkou_java_version,
        "topicctl": tools.topicctl_version if tools.topicctl else None,
    }
