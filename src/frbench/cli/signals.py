"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

``timeout``, ``kill`` and batch schedulers (Slurm, SGE, Kubernetes) send SIGTERM; a closed terminal
sends SIGHUP. Left to their default action they end the process at once: no resume message, the
embedding workers orphaned, multiprocessing's semaphores leaked. Here they raise KeyboardInterrupt
in the main thread, so the same code that handles Ctrl-C keeps finished embeddings, ends the
workers and prints the resume command; the exit status is 128 + the signal's number.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from frbench.cli import exit_codes

STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)
_received: list[int] = []


def _stop(signum: int, frame: Any) -> None:
    if _received:
        return  # already stopping: let the clean-up (workers, cache) finish
    _received.append(signum)
    raise KeyboardInterrupt


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise KeyboardInterrupt (once); the handlers before are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    _start_resource_tracker()
    before = {s: signal.signal(s, _stop) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now, with SIGTERM and SIGHUP blocked, which it inherits.

    The tracker (started by the first semaphore: a progress bar's lock, a process pool) ignores
    SIGINT and SIGTERM but not SIGHUP; a hangup sent to the process group would end it, and the
    semaphores it tracks would be reported leaked, with a traceback, when the run stops.
    """
    if not hasattr(signal, "pthread_sigmask"):
        return
    from multiprocessing import resource_tracker

    before = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
    try:
        resource_tracker.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def stopped_by() -> str:
    """The signal that stopped the command: SIGTERM, SIGHUP, or SIGINT (Ctrl-C)."""
    return signal.Signals(_received[0]).name if _received else "SIGINT"


def stop_status() -> int:
    """The exit status for a stop: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return exit_codes.for_signal(_received[0]) if _received else exit_codes.INTERRUPTED
