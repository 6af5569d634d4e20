"""Frame flow inside a node: pair messages by stamp, and process the latest frame only.

Plain Python (no ROS), so a node's callbacks return at once and a busy node drops stale frames instead of
queueing them without bound.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class StampSync:
    """Pairs messages of several topics by their header stamp (exact match, as all of one frame's messages
    carry the camera's stamp). Keeps at most ``max_pending`` incomplete stamps; older ones are dropped."""

    def __init__(self, keys: list[str], on_complete: Callable[[int, dict[str, Any]], None], max_pending: int = 8):
        self.keys, self.on_complete, self.max_pending = set(keys), on_complete, max_pending
        self._pending: OrderedDict[int, dict] = OrderedDict()
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, key: str, stamp_ns: int, msg: Any) -> None:
        with self._lock:
            entry = self._pending.setdefault(stamp_ns, {})
            entry[key] = msg
            if self.keys <= entry.keys():
                del self._pending[stamp_ns]
                for old in [s for s in self._pending if s < stamp_ns]:   # a newer frame is complete
                    del self._pending[old]
                    self.dropped += 1
            else:
                entry = None
                while len(self._pending) > self.max_pending:
                    self._pending.popitem(last=False)
                    self.dropped += 1
        if entry is not None:
            self.on_complete(stamp_ns, entry)


ABANDONED: list[str] = []   # names of workers whose stop() left an item unfinished (this process)


class LatestWorker:
    """Runs ``process(item)`` in its own thread on the most recent item submitted; an item still waiting
    when a newer one arrives is dropped (counted in ``dropped``). ``after_each()``, if given, runs after every
    item, even one that raised. ``nice`` > 0 lowers the CPU priority of the worker's thread alone (Linux
    keeps a nice value per thread)."""

    def __init__(self, process: Callable[[Any], None], name: str = 'worker',
                 after_each: Callable[[], None] | None = None, nice: int = 0) -> None:
        self.process, self.after_each, self.dropped, self.processed = process, after_each, 0, 0
        self.nice = nice
        self._item, self._has_item = None, False
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> None:
        with self._cond:
            if self._has_item:
                self.dropped += 1
            self._item, self._has_item = item, True
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._has_item and not self._busy

    def _run(self) -> None:
        if self.nice > 0:
            os.nice(self.nice)
        while True:
            with self._cond:
                while not self._has_item and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                item, self._item, self._has_item = self._item, None, False
                self._busy = True
            try:
                self.process(item)
            finally:
                if self.after_each is not None:
                    self.after_each()
                with self._cond:
                    self._busy = False
                    self.processed += 1

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop taking items; wait up to ``timeout_s`` for the one in progress, then leave it (the thread is
        a daemon: a node stops within a launch system's SIGINT grace period, whatever the item costs)."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            ABANDONED.append(self._thread.name)
