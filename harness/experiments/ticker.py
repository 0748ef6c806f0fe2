"""Progress inside a cell: trials done of the budget, the task being tuned and the rate, read
every few seconds from the progress files the tuning workers rewrite after each round."""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager


def read_progress(paths: list[str]) -> tuple[int, str | None]:
    """(trials done over `paths`, the task of the newest round)"""
    done, task, newest = 0, None, -1.0
    for p in paths:
        try:
            with open(p) as f:
                d = json.load(f)
            mtime = os.path.getmtime(p)
        except (OSError, ValueError):
            continue
        done += int(d.get("trials_done", 0))
        if d.get("rounds") and mtime > newest:
            task, newest = d["rounds"][-1].get("task"), mtime
    return done, task


class Ticker:
    """`with ticker:` runs the reader; `with ticker.watch(paths, budget):` around a tuning step."""

    def __init__(self, bar, interval_s: float = 2.0):
        self.bar, self.interval_s = bar, interval_s
        self._watched: tuple[list[str], int, float, int] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a line is never shown after its watch ended
        self._thread = threading.Thread(target=self._loop, name="ticker", daemon=True)

    @contextmanager
    def watch(self, paths: list[str], budget: int):
        start, _ = read_progress(paths)  # a continued run: the rate counts this segment only
        self._watched = (paths, budget, time.perf_counter(), start)
        try:
            yield
        finally:
            with self._lock:
                self._watched = None
                if self.bar is not None:
                    self.bar.set_postfix_str("")

    def line(self) -> str | None:
        w = self._watched
        if w is None:
            return None
        paths, budget, t0, start = w
        done, task = read_progress(paths)
        rate = (done - start) / max(time.perf_counter() - t0, 1e-9)
        return f"{done}/{budget} trials, {rate:.2f}/s" + (f", {task}" if task else "")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                text = self.line()
                if text is not None and self.bar is not None:
                    self.bar.set_postfix_str(text)

    def __enter__(self) -> Ticker:
        if self.bar is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
