"""Clean stops on SIGINT and SIGTERM for long-running commands and nodes.

Python turns SIGINT into KeyboardInterrupt, which can strike in the middle of cleanup (closing a bag, a
simulator), and not at all when the process was started with SIGINT ignored, as a background job in a
script (``cmd &``) is. :func:`stop_on_signals` replaces both with an explicit request to stop.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_on_signals() -> None:
    """Until the process installs its own handlers: SIGINT or SIGTERM exits at once with code 0 and no
    traceback (a node stopped while it is still importing torch has nothing to clean up). The exit
    skips unwinding: an exception raised inside torch's import aborts the process (exit code -6)."""
    def handler(_signum: int, _frame) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)


def node_launcher_code(module: str, function: str = 'main') -> str:
    """Python code that starts a node: quiet exit on a signal during imports, then ``module.function()``.

    Guarded by ``__name__ == '__main__'``: a process spawned by the node (the retrainer's job) imports this
    script again as ``__mp_main__`` and must not start a second node."""
    return ("if __name__ == '__main__':\n    import sys\n    from binpick.stopping import exit_on_signals\n"
            f'    exit_on_signals()\n    from {module} import {function}\n    sys.exit({function}())\n')


def stop_on_signals(on_stop: Callable[[int], None] | None = None) -> threading.Event:
    """Make SIGINT and SIGTERM set the returned Event (and call ``on_stop(signum)``) instead of raising.

    Call it from the main thread before starting anything that installs its own handlers (rclpy chains
    to the handler found at ``rclpy.init``)."""
    stop = threading.Event()

    def handler(signum: int, _frame) -> None:
        stop.set()
        if on_stop is not None:
            on_stop(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    return stop
