"""The Schema Registry provider's process exits when the engine that started it is gone.

Pulumi runs Python dynamic providers (our `SchemaSubject`) in a process of their own: the engine
starts the `pulumi-resource-pulumi-python` launcher, a shell script that runs
`python -m pulumi.dynamic` as its child, in a process group of its own. That process serves gRPC
and waits forever; when the CLI is killed it never notices, and stays (with the launcher) until
someone kills it.

What it can notice: the engine starts every plugin with a pipe on its stdin and keeps the write
end for the plugin's whole life (the launcher hands it down to Python). When the engine process
dies, for any reason, the kernel closes that end and a read of stdin returns end-of-file. The
engine never writes to it, so the read simply waits until then. Watching the parent pid would not
do: the parent is the launcher, which outlives the engine.

So, in the dynamic-provider process only (the package's `__init__` starts it when `__main__` is
`pulumi.dynamic`), a daemon thread reads stdin; at end-of-file it sends SIGINT to the main thread,
as Ctrl-C would (the provider then stops its server, and requests in flight finish), and exits
the process outright if that has not happened within a few seconds. Nothing is watched when
stdin is not a pipe (started by hand from a terminal, or with /dev/null).
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
from collections.abc import Callable

GRACE_SECONDS = 5.0
_started = False


def in_dynamic_provider() -> bool:
    """Is this process Pulumi's Python dynamic provider (`python -m pulumi.dynamic`)?"""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", "") in ("pulumi.dynamic.__main__", "pulumi.dynamic")


def watch_stdin(fd: int = 0, on_gone: Callable[[], None] | None = None) -> threading.Thread | None:
    """Call `on_gone` (default: leave the process) once the pipe on `fd` reaches end-of-file."""
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
    except OSError:
        return None

    def wait_for_end() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        (on_gone or leave)()

    thread = threading.Thread(target=wait_for_end, name="k2infra-engine-watch", daemon=True)
    thread.start()
    return thread


def leave() -> None:
    """Stop as on Ctrl-C; exit outright if that does not end the process within GRACE_SECONDS."""
    timer = threading.Timer(GRACE_SECONDS, os._exit, args=(1,))
    timer.daemon = True
    timer.start()
    # A real SIGINT, to the main thread itself: the provider's main thread sleeps in a lock wait,
    # which only a signal delivered to that thread interrupts (_thread.interrupt_main would not wake
    # it). With SIGINT ignored (inherited SIG_IGN) nothing happens and the timer ends the process.
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def start() -> None:
    """Watch the engine, once, and only in the dynamic-provider process."""
    global _started
    if _started or not in_dynamic_provider():
        return
    _started = True
    watch_stdin()
