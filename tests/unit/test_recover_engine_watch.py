"""The Schema Registry provider's process exits once the engine is gone (k2infra.deploy.engine_watch).

The engine holds the write end of every plugin's stdin pipe; its death closes it. These tests close
that pipe themselves, on the real `python -m pulumi.dynamic` process: it loads our provider class
(as the engine's first request makes it do), and must then exit on end-of-file. The e2e fault tests
check the same after a SIGKILL of a real `pulumi up`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest

from k2infra.deploy import engine_watch
from tests.conftest import REPO


def test_the_watch_calls_back_when_the_pipe_closes() -> None:
    read, write = os.pipe()
    gone = threading.Event()
    try:
        thread = engine_watch.watch_stdin(read, on_gone=gone.set)
        assert thread is not None
        assert not gone.wait(0.3), "called back while the writer is still there"
        os.write(write, b"ignored bytes are read and dropped")
        assert not gone.wait(0.2)
        os.close(write)
        write = -1
        assert gone.wait(60), "not called back within 60s of end-of-file"
    finally:
        if write >= 0:
            os.close(write)
        os.close(read)


def test_nothing_is_watched_when_stdin_is_not_a_pipe(tmp_path) -> None:
    with open(os.devnull, "rb") as devnull:
        assert engine_watch.watch_stdin(devnull.fileno(), on_gone=lambda: None) is None
    path = tmp_path / "file"
    path.write_text("x")
    with path.open("rb") as regular:
        assert engine_watch.watch_stdin(regular.fileno(), on_gone=lambda: None) is None


def test_only_the_dynamic_provider_process_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not engine_watch.in_dynamic_provider()  # pytest's own __main__


def _dynamic_provider(sigint: signal.Handlers = signal.SIG_DFL) -> tuple[subprocess.Popen[bytes], int]:
    """`python -m pulumi.dynamic` as the engine starts it; returns it and the port it serves on.

    SIGINT is set explicitly: a child inherits an ignored SIGINT, and this test's runner may have
    one (a background job of a non-interactive shell, as `make test &` or some CI runners start it).
    The engine (the Go CLI, which handles SIGINT itself) starts its plugins with it at default.
    """
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.dynamic"],
        cwd=REPO,  # as the engine starts it: in the project directory, where k2infra is importable
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    assert port.isdigit(), port
    return process, int(port)


def _load_our_provider(port: int) -> None:
    """Send what the engine's first request sends: our pickled provider, which makes it import k2infra."""
    from google.protobuf import struct_pb2
    from pulumi.dynamic.dynamic import serialize_provider
    from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

    from k2infra.registry.provider import SchemaRegistryProvider

    props = struct_pb2.Struct()
    props.update({"__provider": serialize_provider(SchemaRegistryProvider())})
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        # The provider rejects these bare inputs; loading it is what matters.
        with contextlib.suppress(grpc.RpcError):
            stub.Diff(provider_pb2.DiffRequest(id="s", urn="urn:pulumi:s::p::t::s", olds=props, news=props), timeout=30)


def test_the_real_dynamic_provider_exits_when_its_stdin_closes() -> None:
    process, port = _dynamic_provider()
    try:
        _load_our_provider(port)
        time.sleep(0.5)
        assert process.poll() is None, "the provider exited while the engine (its stdin) is still there"
        assert process.stdin is not None
        process.stdin.close()  # what the engine's death does
        process.wait(timeout=engine_watch.GRACE_SECONDS + 60)  # a loaded machine's allowance
        # Stopped by the SIGINT (pulumi.dynamic catches KeyboardInterrupt, stops its server and
        # returns: exit 0), not by the fallback timer (os._exit(1)).
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_provider_started_with_sigint_ignored_is_ended_by_the_fallback() -> None:
    # Started from a background job of a non-interactive shell, SIGINT stays ignored: the watch's
    # SIGINT does nothing, and the fallback ends the process GRACE_SECONDS later (exit 1).
    process, port = _dynamic_provider(sigint=signal.SIG_IGN)
    try:
        _load_our_provider(port)
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=engine_watch.GRACE_SECONDS + 60)
        assert process.returncode == 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_dynamic_provider_that_never_loaded_k2infra_is_not_affected() -> None:
    # Other projects' dynamic providers are not ours to stop: without our provider, no watch.
    process, _ = _dynamic_provider()
    try:
        assert process.stdin is not None
        process.stdin.close()
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1.5)
    finally:
        process.kill()
        process.wait()
