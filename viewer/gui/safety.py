"""The safety net: an exception nobody caught becomes a message, not a crash.

With PyQt5 5.15 an exception escaping a slot aborts the whole process unless
``sys.excepthook`` is replaced. :func:`install` replaces it (and
``threading.excepthook``, for worker threads) with hooks that put one line on
stderr through the ``strata`` logger (the traceback at debug level, see
``STRATA_LOG``) and show the message in the window's message strip. The
window stays open and usable.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Any, Callable

from viewer.app.messages import debug, error_text, report
from viewer.gui.worker import main_thread_relay


def unexpected_text(exc: BaseException) -> str:
    """The one line for an exception no code expected, naming where it happened."""
    import traceback  # with the first unexpected error, not at start-up

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (in {frames[-1].name}, {frames[-1].filename.rsplit('/', 1)[-1]}:" \
            f"{frames[-1].lineno})" if frames else ""
    return f"unexpected error: {error_text(exc)}{where}; the window carries on"


def install(window: Any) -> Callable[[], None]:
    """Route uncaught exceptions (main thread and worker threads) to ``window``'s message strip.

    Returns a function that puts the previous hooks back.
    """
    relay = main_thread_relay()  # the application's: it outlives the window
    previous = (sys.excepthook, threading.excepthook)

    def show(exc: BaseException) -> None:
        message = unexpected_text(exc)
        report(message)
        debug("traceback", exc_info=(type(exc), exc, exc.__traceback__))
        try:
            window.banner.show_message(message, "error")
        except RuntimeError:  # the window is gone: stderr has it
            pass

    def main_hook(kind: type[BaseException], exc: BaseException,
                  tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous[0](kind, exc, tb)
            return
        show(exc.with_traceback(tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        exc = args.exc_value
        try:
            relay.post(lambda: show(exc))
        except RuntimeError:  # no application any more
            report(unexpected_text(exc))

    sys.excepthook = main_hook
    threading.excepthook = thread_hook

    def uninstall() -> None:
        sys.excepthook, threading.excepthook = previous

    return uninstall
