"""`tools/platform.sh cli` knows Kafka's usual tool names, and the runbook's way of writing and
reading a test record (docs/runbook.md §9) works on the plain platform as written there."""

from __future__ import annotations

import subprocess
import uuid

from devkit.local_platform import PLATFORM_SH, LocalPlatform

TOOL_TIMEOUT = 180  # one JVM per tool on a loaded 2-core machine


def cli(platform: LocalPlatform, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PLATFORM_SH), "cli", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def test_a_record_written_with_the_console_producer_is_read_back_with_the_console_consumer(
    platform: LocalPlatform,
) -> None:
    topic = f"k2.cli-test.{uuid.uuid4().hex[:8]}"
    server = platform.bootstrap_servers
    made = cli(platform, "kafka-topics", "--bootstrap-server", server, "--create", "--topic", topic)
    assert made.returncode == 0, made.stderr
    produced = cli(
        platform,
        "kafka-console-producer",
        "--bootstrap-server",
        server,
        "--topic",
        topic,
        "--reader-property",
        "parse.key=true",
        "--reader-property",
        "key.separator=:",
        stdin='BHP:{"test":1}\n',
    )
    assert produced.returncode == 0, produced.stderr
    assert "deprecated" not in produced.stderr.lower()  # the runbook's flags are the current ones
    read = cli(
        platform,
        "kafka-console-consumer",
        "--bootstrap-server",
        server,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "1",
        "--formatter-property",
        "print.key=true",
        "--group",
        f"k2-cli-test-{topic}",
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines()[0] == 'BHP\t{"test":1}'
    groups = cli(platform, "kafka-consumer-groups", "--bootstrap-server", server, "--list")
    assert groups.returncode == 0, groups.stderr
    assert f"k2-cli-test-{topic}" in groups.stdout.split()
    configs = cli(
        platform,
        "kafka-configs",
        "--bootstrap-server",
        server,
        "--describe",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
    )
    assert configs.returncode == 0, configs.stderr
    assert topic in configs.stdout


def test_an_unknown_tool_name_is_refused_naming_it(platform: LocalPlatform) -> None:
    done = cli(platform, "kafka-console-producr")
    assert done.returncode != 0
    assert "unknown tool kafka-console-producr" in done.stderr
