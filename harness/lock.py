"""A per-cell lock, so two sweeps on the same directories never work on the same cell at once."""

from __future__ import annotations

import fcntl
import os


class CellLock:
    """`with CellLock(path) as lock: if lock.held: ...` (non-blocking; released on exit, and by the
    kernel if the process dies)."""

    def __init__(self, path: str):
        self.path = path
        self.held = False
        self._fd: int | None = None

    def __enter__(self) -> CellLock:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = True
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"{os.getpid()}\n".encode())
        except BlockingIOError:
            self.held = False
        return self

    def holder(self) -> str:
        """The pid written by the process holding the lock (for messages)."""
        try:
            with open(self.path) as f:
                return f.read().strip() or "?"
        except OSError:
            return "?"

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
        self.held = False
