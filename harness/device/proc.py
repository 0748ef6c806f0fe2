"""Run one job in a child process placed on a share; never leave it (or its children) behind."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading

from harness.device.share import launch_for
from harness.jobs import KINDS, Share
from harness.layout import Step
from harness.records import read_json, write_json

_PR_SET_PDEATHSIG = 1
# resolved here: no dlopen/dlsym between fork and exec (other threads may hold their locks)
_prctl = ctypes.CDLL(None, use_errno=True).prctl


class JobFailed(RuntimeError):
    pass


_active: set[subprocess.Popen] = set()
_lock = threading.Lock()
_stopping = threading.Event()


def allow_jobs() -> None:
    """Accept jobs again after kill_all (a new sweep in the same process)."""
    _stopping.clear()


def kill_all() -> None:
    """Stop every job still running (e.g. jobs waited on by other threads, on Ctrl-C) and
    refuse new ones in this process from now on."""
    with _lock:
        _stopping.set()
        procs = list(_active)
    for p in procs:
        kill_group(p)


def _tail(path: str, n: int = 25) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def kill_group(p: subprocess.Popen, grace_s: float = 5.0) -> None:
    """Stop a child started with start_new_session and everything it spawned."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            break
        try:
            p.wait(grace_s)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # the leader may be gone while members linger
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def spawn(argv: list[str], share: Share | None, log_path: str, mps_dir: str | None = None,
          cores: list[int] | None = None, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `argv` in its own process group on `share`, output appended to `log_path`."""
    launch = launch_for(share, mps_dir, cores) if share is not None else None
    env = {**os.environ, **(launch.env if launch else {}), **(extra_env or {})}
    affinity = launch.cores if launch else None

    def preexec():
        # die with the parent, even if the parent is SIGKILLed
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if affinity:
            os.sched_setaffinity(0, affinity)

    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec)


def run_job(kind: str, job, step: Step, share: Share, mps_dir: str | None = None, cores: list[int] | None = None):
    """Run `job` (a record of harness.jobs.KINDS[kind]) in a worker on `share` (on exactly
    `cores`, if given), with its files at `step`; return its typed result."""
    os.makedirs(step.dir, exist_ok=True)
    write_json(step.job, job)
    if os.path.exists(step.result):
        os.remove(step.result)
    with _lock:
        if _stopping.is_set():
            raise JobFailed(f"{kind} job not started: the sweep is stopping")
        p = spawn([sys.executable, "-m", "harness.worker", kind, step.job, step.result], share, step.log, mps_dir,
                  cores)
        _active.add(p)
    try:
        rc = p.wait()
    finally:
        kill_group(p)  # on error or interrupt; after success it reaps stragglers
        with _lock:
            _active.discard(p)
    if rc != 0 or not os.path.exists(step.result):
        raise JobFailed(f"{kind} job on share {share.label} failed (exit {rc}); "
                        f"last lines of {step.log}:\n{_tail(step.log)}")
    return read_json(step.result, KINDS[kind][1])


def together(fns: list, name: str = "job") -> None:
    """Call each of `fns` in its own thread; the first error (or Ctrl-C) stops every running
    job and is raised once all threads have ended."""
    errors: list[BaseException] = []

    def guard(fn) -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below, after the others stop
            errors.append(e)
            kill_all()

    threads = [threading.Thread(target=guard, args=(fn,), name=f"{name}{i}") for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        kill_all()
        raise
    if errors:
        raise errors[0]
