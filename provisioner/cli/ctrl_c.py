"""Ctrl-C for commands that change things: the first lets calls in flight finish, the second
stops at once (see `CtrlC`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

from provisioner.cli.exit_codes import EXIT_INTERRUPTED


class CtrlC:
    """Ctrl-C for commands that change things (SPEC section 3: apply is safe to re-run after
    Ctrl-C), as Terraform users know it.

    Python's default turns SIGINT into KeyboardInterrupt wherever the main thread is. While
    nodes execute, that can be outside the runner's wait: then nothing tells the worker
    threads to stop, and the pool waits for every started node (a cluster create: minutes).
    So `main` installs this handler instead:

    - while nodes execute, the first SIGINT sets the run's cancel event: no node starts,
      waiters stop at their next poll, calls in flight finish; the run ends `interrupted`
      (journal closed, lock released) and exits 130;
    - a second one stops at once: the journal records the interruption, the lock is released
      (the kernel drops the local flock anyway) and the process exits 130 without waiting
      for calls in flight; the next run finds whatever they made by its tags;
    - before the nodes execute (reading, planning, the confirmation prompt) nothing has been
      written, and a SIGINT raises KeyboardInterrupt as usual.

    The handler only sets state; printing and exiting happen on a helper thread, because a
    signal handler that writes to a stream the main thread is writing to fails.
    """

    def __init__(self) -> None:
        self.received = 0
        self.err: TextIO = sys.stderr
        self._runs: list[tuple[threading.Event, Any, Any]] = []
        self._scope: threading.Event | None = None
        self._mutex = threading.Lock()
        self._cancelled = self._stopping = False

    def install(self, err: TextIO) -> Any:
        """Install the handler (main thread only); returns what to restore (a 1-tuple: the
        previous handler may itself be None), or None when nothing was installed."""
        self.received, self.err, self._runs, self._scope = 0, err, [], None
        self._cancelled = self._stopping = False
        if threading.current_thread() is not threading.main_thread():
            return None
        return (signal.signal(signal.SIGINT, self._handle),)

    def uninstall(self, previous: Any) -> None:
        if previous is None:
            return
        if self.received:
            # On the way out after a Ctrl-C (threads winding down, interpreter exit): another
            # one stops at once rather than surfacing a KeyboardInterrupt traceback.
            signal.signal(signal.SIGINT, lambda signum, frame: os._exit(EXIT_INTERRUPTED))
        else:
            signal.signal(signal.SIGINT, previous[0] if previous[0] is not None else signal.default_int_handler)

    @contextlib.contextmanager
    def executing(self, cancel: threading.Event, journal: Any, lock: Any) -> Iterator[None]:
        """One plan's nodes execute (several may at once, in a run of several plans)."""
        entry = (cancel, journal, lock)
        with self._mutex:
            self._runs.append(entry)
            if self._cancelled:  # Ctrl-C came while this plan was still planning: start nothing
                cancel.set()
        try:
            yield
        finally:
            with self._mutex:
                self._runs.remove(entry)

    @contextlib.contextmanager
    def several(self, cancel: threading.Event) -> Iterator[None]:
        """A run of several plans: the main thread only waits for the plans' threads, so
        the first Ctrl-C never raises there; it sets `cancel` (no plan starts) and every
        executing plan's own cancel; a plan still planning starts none of its nodes."""
        self._scope = cancel
        try:
            yield
        finally:
            self._scope = None

    def _handle(self, signum: int, frame: Any) -> None:
        self.received += 1
        with self._mutex:
            runs = list(self._runs)
            scope = self._scope
        if not runs and scope is None:
            raise KeyboardInterrupt
        if not self._cancelled:
            self._cancelled = True
            if scope is not None:
                scope.set()
            for cancel, _journal, _lock in runs:
                cancel.set()
            threading.Thread(
                target=self._say,
                daemon=True,
                args=("^C interrupted: letting in-flight calls finish (Ctrl-C again to stop at once)",),
            ).start()
        elif not self._stopping:
            self._stopping = True
            threading.Thread(target=self._stop_now, args=(runs,), daemon=True).start()

    def _say(self, message: str) -> None:
        with contextlib.suppress(Exception):
            print(message, file=self.err, flush=True)

    def _stop_now(self, runs: list[tuple[threading.Event, Any, Any]]) -> None:
        self._say(
            "^C stopping at once; calls in flight may or may not have been made: run the same command again to finish."
        )
        for _cancel, journal, lock in runs:
            with contextlib.suppress(Exception):
                if journal is not None:
                    journal.close("interrupted", forced=True)
            with contextlib.suppress(Exception):
                if lock is not None:
                    lock.release()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(EXIT_INTERRUPTED)


# The process's one handler: `main` installs it, plan commands register their runs with it.
ctrl_c = CtrlC()
