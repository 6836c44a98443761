"""Ctrl-C while llama.cpp runs.

llama.cpp calls back into Python to log (llama_cpp._logger.llama_log_callback). A SIGINT that
arrives while that callback runs raises KeyboardInterrupt inside a ctypes callback, where ctypes
prints "Exception ignored" and swallows it: the run went on as if nothing was pressed. While the
model runs, such a SIGINT is only noted, and raised at the next safe point (after a result was
handed to the runner, which caches it); a SIGINT anywhere else interrupts at once, as usual.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

_CALLBACKS = frozenset({"llama_log_callback"})


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[Callable[[], None]]:
    """Yields `check()`, which raises KeyboardInterrupt when a SIGINT was noted."""
    pending: list[int] = []

    def check() -> None:
        if pending:
            pending.clear()
            raise KeyboardInterrupt

    # Only the main thread may set handlers; leave any handler but Python's default alone.
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield check
        return

    def on_sigint(signum: int, frame: object) -> None:
        if getattr(getattr(frame, "f_code", None), "co_name", "") in _CALLBACKS:
            pending.append(signum)
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
