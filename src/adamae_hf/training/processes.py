"""Worker processes and signals: DataLoader workers that leave SIGINT and a job-wide SIGTERM to the main process
(born with SIGTERM blocked where they are forked), and [`GracefulStop`], which turns SIGTERM / Ctrl-C into "checkpoint
after this step, then exit with 128 + the signal number"."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.context
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


__all__ = [
    "GracefulStop",
    "StoppedBySignal",
    "raise_on_signal",
    "ignore_signals_worker_init",
    "leave_signals_to_main_process",
    "worker_multiprocessing_context",
]

logger = logging.getLogger(__name__)


def ignore_signals_worker_init(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: the data package's seeding; workers leave Ctrl-C (SIGINT) and a SIGTERM sent to
    the whole job (a cluster's pre-emption notice) to the main process, which checkpoints, then shuts them down.

    A SIGTERM from the main process itself still ends a worker at once: that is how the DataLoader and the
    interpreter's exit (`multiprocessing` terminates live daemonic children, then joins them) stop workers, e.g.
    after an exception left the training loop. Ignoring every SIGTERM made that join wait forever.
    """
    from ..data import seed_worker

    seed_worker(worker_id)
    leave_signals_to_main_process(None, worker_id)


def leave_signals_to_main_process(worker_init_fn: Callable[[int], None] | None, worker_id: int) -> None:
    """DataLoader `worker_init_fn` (bind the first argument with `functools.partial`): runs `worker_init_fn` (a
    loader's own, e.g. the `Trainer`'s seeding), then leaves Ctrl-C and a job-wide SIGTERM to the main process as
    [`ignore_signals_worker_init`] does."""
    if worker_init_fn is not None:
        worker_init_fn(worker_id)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_on_sigterm_from_parent()


class _SigtermBlockedAtBirthProcess(multiprocessing.context.ForkProcess):
    """A fork-started process whose SIGTERM is blocked from its first instruction: `start` blocks SIGTERM in the
    calling thread around the fork, and the child inherits the mask (POSIX `fork`). Without it a SIGTERM sent to the
    whole job between a worker's fork and its `worker_init_fn` killed the worker, and the DataLoader then raised
    "DataLoader worker exited unexpectedly" before the main process could checkpoint. A SIGTERM that reaches the
    parent during the fork stays pending there and is handled right after."""

    def start(self) -> None:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _SigtermBlockedAtBirthContext(multiprocessing.context.ForkContext):
    Process = _SigtermBlockedAtBirthProcess


def worker_multiprocessing_context() -> multiprocessing.context.BaseContext | None:
    """The DataLoader's `multiprocessing_context` for `ignore_signals_worker_init`: workers are born with SIGTERM
    blocked, so no SIGTERM is lost between fork and `worker_init_fn`. Only where workers are forked and
    `signal.sigwaitinfo` exists (Linux); elsewhere `None` (the default context; a job-wide SIGTERM in the first
    milliseconds of a worker can still end it, and the run then fails instead of checkpointing)."""
    # allow_none: asking must not fix the start method (the first of get_all_start_methods() is the default)
    start_method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    if start_method != "fork" or not hasattr(signal, "sigwaitinfo"):
        return None
    return _SigtermBlockedAtBirthContext()


def _exit_on_sigterm_from_parent() -> None:
    """Block SIGTERM in this (single-threaded, freshly started) worker and wait for it in a daemon thread that ends
    the process when the sender is the parent, or when the parent is gone. Where `signal.sigwaitinfo` does not exist
    (not Linux) SIGTERM keeps its default action: any SIGTERM ends the worker."""
    if not hasattr(signal, "sigwaitinfo"):
        return
    parent = os.getppid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads started from here on inherit the mask

    def wait() -> None:
        while True:
            info = signal.sigwaitinfo({signal.SIGTERM})
            if info.si_pid == parent or os.getppid() != parent:
                os._exit(0)  # an orderly stop the parent asked for (exit code 0: the DataLoader reports no failure)

    threading.Thread(target=wait, name="sigterm-from-parent", daemon=True).start()



class GracefulStop:
    """Installs SIGTERM / SIGINT handlers that only set a flag; the training loop checks `requested` after each
    optimiser step, checkpoints and exits with `exit_code` (128 + signal number: 143 for SIGTERM, 130 for Ctrl-C).
    A second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> GracefulStop:
        self._previous = _set_stop_handlers(self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        logger.warning("Received %s: stopping after this step and saving a checkpoint.", signal.Signals(signum).name)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)

    def uninstall(self) -> None:
        _restore_handlers(self._previous)
        self._previous = {}


def _set_stop_handlers(handler: Callable) -> dict[int, Any]:
    """`handler` for SIGTERM and SIGINT (on the main thread; elsewhere Python allows none); returns the previous ones."""
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread
            pass
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)



class StoppedBySignal(Exception):
    """SIGTERM or Ctrl-C inside [`raise_on_signal`]: work with nothing left to save (an evaluation after training)
    stops at once. `exit_code` is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def raise_on_signal() -> Iterator[None]:
    """Within the block, SIGTERM and Ctrl-C raise [`StoppedBySignal`] (so that the caller can say what was saved and
    how to go on) instead of killing the process silently or raising `KeyboardInterrupt` with a traceback."""

    def handle(signum, frame) -> None:
        raise StoppedBySignal(signum)

    previous = _set_stop_handlers(handle)
    try:
        yield
    finally:
        _restore_handlers(previous)
