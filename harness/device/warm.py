"""Worker processes kept up between jobs, so a sweep's tuning cells do not each pay a fresh
process: Python and TVM imports, and (harness.worker.metaschedule.builder) the builder's
warm workers.

A worker serves jobs one at a time (`python -m harness.worker serve FD`): the parent writes a
request line to its stdin, it runs the job with its output going to the job's log, and answers
on the pipe FD with its exit status. A worker is reused only for jobs placed as it was (share,
MPS daemon, cores); one that fails, or runs past a deadline, is ended and not reused, and so are
the waiting ones once a job placed otherwise starts one. Its temporary files live in its own
directory for as long as it does. Workers are started by the pool's own thread: a child's
parent-death signal follows the thread that started it, and a client's thread ends with its cell.
"""

from __future__ import annotations

import json
import os
import queue
import select
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from harness.device.proc import Deadline, JobFailed, JobTimeout, result_of, start, stop
from harness.jobs import SERVE_LOG_ENV, Share
from harness.layout import Step


@dataclass(frozen=True)
class Placement:
    share: Share
    mps_dir: str | None
    cores: tuple[int, ...] | None
    torch: bool = False  # whether torch may be imported (harness.device.proc.torch_env)


@dataclass
class Worker:
    place: Placement
    proc: subprocess.Popen
    replies: object  # the read end of the answer pipe
    dir: str


class WarmPool:
    """`with WarmPool(dir) as pool:` run_job(..., warm=pool) runs jobs in kept workers; on exit
    (or kill_all) they end."""

    def __init__(self, root: str):
        self.root = root
        self.started = 0  # worker processes started
        self.reused = 0  # jobs that found a worker waiting
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._starts: queue.Queue = queue.Queue()
        self._starter = threading.Thread(target=self._start_loop, name="warm-pool", daemon=True)
        self._starter.start()

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            self._end(w)
        self._starts.put(None)
        self._starter.join(timeout=10)
        while not self._starts.empty():  # asked for after the starter stopped: refused, never left waiting
            item = self._starts.get_nowait()
            if item is not None:
                item[0].set_exception(JobFailed("worker not started: the pool is closed"))
        shutil.rmtree(self.root, ignore_errors=True)

    def _start_loop(self) -> None:
        while (item := self._starts.get()) is not None:
            fut, args, kw = item
            try:
                fut.set_result(start(*args, **kw))
            except BaseException as e:  # noqa: BLE001 - raised in the thread that asked
                fut.set_exception(e)

    def run(self, kind: str, step: Step, share: Share, mps_dir: str | None, cores: list[int] | None,
            deadline: Deadline | None, torch: bool = False):
        """The job whose record is at `step.job`, in a waiting worker placed alike (else a new one)."""
        place = Placement(share, mps_dir, tuple(sorted(cores)) if cores else None, torch)
        request = {"kind": kind, "job": step.job, "result": step.result, "log": os.path.abspath(step.log)}
        w = self._take(place)
        try:
            self._send(w, request)
        except OSError:  # it died while waiting: a new one
            self._end(w)
            w = self._take(place)
            self._send(w, request)
        rc = None
        try:
            rc = self._wait(w, deadline)
        except JobTimeout as e:
            raise JobTimeout(f"{kind} job on share {share.label} {e}: ended; log {step.log}") from None
        finally:
            if rc == 0:
                with self._lock:
                    self._idle.append(w)
            else:
                self._end(w, step.log)
        return result_of(kind, rc, step, share)

    @staticmethod
    def _send(w: Worker, request: dict) -> None:
        w.proc.stdin.write((json.dumps(request) + "\n").encode())
        w.proc.stdin.flush()

    def _take(self, place: Placement) -> Worker:
        """A waiting worker placed alike; else a new one, and the waiting ones placed otherwise (or
        dead) end (one placement is kept: a sweep's cells rarely come back to an earlier one)."""
        with self._lock:
            if self._closed:
                raise JobFailed("worker not started: the pool is closed")
            stale = [w for w in self._idle if w.place != place or w.proc.poll() is not None]
            self._idle = [w for w in self._idle if w not in stale]
            if self._idle:
                self.reused += 1
                return self._idle.pop(0)
            n = self.started
            self.started += 1
        for w in stale:
            self._end(w)
        d = os.path.join(self.root, f"worker{n}")
        log = os.path.abspath(os.path.join(d, "serve.log"))
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        r, wfd = os.pipe()
        fut: Future = Future()
        args = ("worker", [sys.executable, "-m", "harness.worker", "serve", str(wfd)], place.share, log,
                place.mps_dir, list(place.cores) if place.cores else None)
        env = {"TMPDIR": os.path.abspath(os.path.join(d, "tmp")), SERVE_LOG_ENV: log}
        self._starts.put((fut, args, dict(extra_env=env, stdin=subprocess.PIPE, pass_fds=(wfd,), torch=place.torch)))
        try:
            p = fut.result()
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(wfd)
        return Worker(place, p, os.fdopen(r), d)

    @staticmethod
    def _wait(w: Worker, deadline: Deadline | None) -> int | None:
        t0 = time.time()
        while True:
            ready, _, _ = select.select([w.replies], [], [], 2.0)
            if ready:
                line = w.replies.readline()
                return int(line) if line.strip() else w.proc.poll()  # empty: the worker died
            if w.proc.poll() is not None:
                return w.proc.returncode
            why = deadline.passed(t0) if deadline is not None else None
            if why:
                raise JobTimeout(why)

    @staticmethod
    def _end(w: Worker, log: str | None = None) -> None:
        """End the worker; after a failed job, what it printed outside any job goes to that job's log."""
        stop(w.proc)
        w.replies.close()
        if w.proc.stdin is not None:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
        if log is not None:
            try:
                with open(os.path.join(w.dir, "serve.log"), "rb") as src, open(log, "ab") as dst:
                    dst.write(src.read())
            except OSError:
                pass
        shutil.rmtree(w.dir, ignore_errors=True)
