"""The program's read of its own stack's checkpoint (deploy/preflight._stack_resources) outlives a torn read.

Pulumi's file backend rewrites a checkpoint in place during an update; a read meeting it half-written
fails with "failed to load checkpoint: EOF". The engine's answer is faked here (the invoke is the
engine-internal `pulumi:pulumi:readStackResourceOutputs`, which only a running engine can answer)."""

from __future__ import annotations

import asyncio

import pytest

from k2infra.deploy import preflight

STATE = {"outputs": {"urn:x::market.a.b.c": {"type": "kafka:index/topic:Topic", "outputs": {"name": "market.a.b.c"}}}}


def engine(failures: list[str]):
    calls: list[str] = []

    async def invoke(token: str, args: dict) -> dict:
        calls.append(args["stackName"])
        if failures:
            raise Exception(failures.pop(0))  # the SDK's bare Exception with the engine's message
        return STATE

    return invoke, calls


def test_a_torn_checkpoint_is_read_again_until_it_is_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    invoke, calls = engine([f"invocation returned an error: {preflight.TORN_CHECKPOINT}"] * 2)
    monkeypatch.setattr(preflight.pulumi.runtime, "invoke_async", invoke)
    monkeypatch.setattr(preflight, "TORN_CHECKPOINT_WAIT", 5.0)
    assert asyncio.run(preflight._stack_resources("organization/k2infra/e2e")) == STATE["outputs"]
    assert len(calls) == 3


def test_another_error_or_a_checkpoint_that_stays_torn_fails_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    invoke, calls = engine(["no stack named 'e2e' found"])
    monkeypatch.setattr(preflight.pulumi.runtime, "invoke_async", invoke)
    with pytest.raises(Exception, match="no stack named"):
        asyncio.run(preflight._stack_resources("organization/k2infra/e2e"))
    assert len(calls) == 1
    invoke, calls = engine([preflight.TORN_CHECKPOINT] * 100)
    monkeypatch.setattr(preflight.pulumi.runtime, "invoke_async", invoke)
    monkeypatch.setattr(preflight, "TORN_CHECKPOINT_WAIT", 0.5)
    with pytest.raises(Exception, match="failed to load checkpoint: EOF"):
        asyncio.run(preflight._stack_resources("organization/k2infra/e2e"))
    assert 1 < len(calls) < 100
