"""Run one job in a child process placed on a share; never leave it (or its children) behind."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from harness.device.share import launch_for
from harness.jobs import KINDS, Share, needs_torch
from harness.layout import PROGRESS, Step
from harness.records import read_json, write_json

_PR_SET_PDEATHSIG = 1
# resolved here: no dlopen/dlsym between fork and exec (other threads may hold their locks)
_prctl = ctypes.CDLL(None, use_errno=True).prctl


class JobFailed(RuntimeError):
    pass


class JobTimeout(JobFailed):
    """A job ran past its deadline and was ended with its whole process group."""


@dataclass(frozen=True)
class Deadline:
    """When a job is ended: `total_s` after it started, or once `watch` (a file the job rewrites as
    it goes, e.g. a tuning run's progress) has not changed for `stall_s` (counted from the start
    until the file first appears)."""

    total_s: float | None = None
    watch: str | None = None
    stall_s: float | None = None

    @classmethod
    def stalled(cls, work_dir: str, stall_s: float | None) -> Deadline:
        """For a tuning job in `work_dir`: ended when its progress file stops changing."""
        return cls(watch=os.path.join(work_dir, PROGRESS), stall_s=stall_s)

    def passed(self, t0: float) -> str | None:
        now = time.time()
        if self.total_s is not None and now - t0 > self.total_s:
            return f"ran longer than {self.total_s:g} s"
        if self.watch is not None and self.stall_s is not None:
            try:
                last = max(t0, os.path.getmtime(self.watch))
            except OSError:
                last = t0
            if now - last > self.stall_s:
                return f"recorded no progress in {os.path.basename(self.watch)} for {self.stall_s:g} s"
        return None


_active: set[subprocess.Popen] = set()
_lock = threading.Lock()
_stopping = threading.Event()


def allow_jobs() -> None:
    """Accept jobs again after kill_all (a new sweep in the same process)."""
    _stopping.clear()


def stopping() -> bool:
    """True from kill_all() until allow_jobs(): a job that ends now was stopped, not failed."""
    return _stopping.is_set()


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


NO_TORCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "no_torch")


def torch_env(torch: bool) -> dict[str, str]:
    """Environment that keeps torch out of a process that needs none (tvm_ffi imports torch
    whenever it is installed: seconds per TVM process, builder workers and servers included), and
    stops tvm_ffi compiling its optional torch extension where torch is used."""
    env = {"TVM_FFI_DISABLE_TORCH_C_DLPACK": "1"}
    if not torch:
        rest = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = NO_TORCH + (os.pathsep + rest if rest else "")
    return env


def spawn(argv: list[str], share: Share | None, log_path: str, mps_dir: str | None = None,
          cores: list[int] | None = None, extra_env: dict[str, str] | None = None,
          stdin=subprocess.DEVNULL, pass_fds: tuple[int, ...] = (), torch: bool = False) -> subprocess.Popen:
    """Start `argv` in its own process group on `share`, output appended to `log_path`; without
    `torch`, `import torch` fails in it and its children (torch_env)."""
    launch = launch_for(share, mps_dir, cores) if share is not None else None
    env = {**os.environ, **torch_env(torch), **(launch.env if launch else {}), **(extra_env or {})}
    affinity = launch.cores if launch else None

    def preexec():
        # die with the parent, even if the parent is SIGKILLed
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if affinity:
            os.sched_setaffinity(0, affinity)

    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=stdin,
                                pass_fds=pass_fds, start_new_session=True, preexec_fn=preexec)


def start(kind: str, argv: list[str], share: Share, log_path: str, mps_dir: str | None = None,
          cores: list[int] | None = None, extra_env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    """spawn(), unless the sweep is stopping; kill_all() ends the process until stop() forgets it."""
    with _lock:
        if _stopping.is_set():
            raise JobFailed(f"{kind} job not started: the sweep is stopping")
        p = spawn(argv, share, log_path, mps_dir, cores, extra_env, **kw)
        _active.add(p)
    return p


def stop(p: subprocess.Popen) -> None:
    """End `p` and everything it started (a no-op once it has ended and its group is empty)."""
    kill_group(p)
    with _lock:
        _active.discard(p)


def _wait(p: subprocess.Popen, deadline: Deadline | None) -> int:
    if deadline is None:
        return p.wait()
    t0 = time.time()
    while True:
        try:
            return p.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            why = deadline.passed(t0)
            if why:
                kill_group(p)
                raise JobTimeout(why) from None


def run_job(kind: str, job, step: Step, share: Share, mps_dir: str | None = None, cores: list[int] | None = None,
            deadline: Deadline | None = None, warm=None):
    """Run `job` (a record of harness.jobs.KINDS[kind]) in a worker on `share` (on exactly
    `cores`, if given), with its files at `step` and its temporary files in `step.tmp` (removed
    after); return its typed result. Past `deadline` the job is ended (JobTimeout). With `warm`
    (a harness.device.warm.WarmPool) it runs in a worker process kept up between jobs."""
    os.makedirs(step.dir, exist_ok=True)
    write_json(step.job, job)
    if os.path.exists(step.result):
        os.remove(step.result)
    torch = needs_torch(kind, job)
    if warm is not None:
        return warm.run(kind, step, share, mps_dir, cores, deadline, torch)
    shutil.rmtree(step.tmp, ignore_errors=True)  # left by a run that was killed
    os.makedirs(step.tmp)
    p = start(kind, [sys.executable, "-m", "harness.worker", kind, step.job, step.result], share, step.log, mps_dir,
              cores, extra_env={"TMPDIR": os.path.abspath(step.tmp)}, torch=torch)
    try:
        rc = _wait(p, deadline)
    except JobTimeout as e:
        raise JobTimeout(f"{kind} job on share {share.label} {e}: ended; log {step.log}") from None
    finally:
        stop(p)  # on error or interrupt; after success it reaps stragglers
        shutil.rmtree(step.tmp, ignore_errors=True)
    return result_of(kind, rc, step, share)


def result_of(kind: str, rc: int | None, step: Step, share: Share):
    """The job's typed result; JobFailed (with the log's last lines) when it failed."""
    if rc != 0 or not os.path.exists(step.result):
        raise JobFailed(f"{kind} job on share {share.label} failed (exit {rc}); "
                        f"last lines of {step.log}:\n{_tail(step.log)}")
    return read_json(step.result, KINDS[kind][1])


def together(fns: list, name: str = "job", at_most: int | None = None) -> None:
    """Call `fns` in threads, `at_most` at once (all by default), in their order; the first error (or
    Ctrl-C) stops every running job and is raised once all threads have ended. After an error
    (not an interrupt) later jobs may start again: one cell failing does not end the sweep."""
    errors: list[BaseException] = []
    queue = iter(fns)
    taking = threading.Lock()

    def guard() -> None:
        while True:
            with taking:
                fn = next(queue, None)
            if fn is None:
                return
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - re-raised below, after the others stop
                errors.append(e)
                kill_all()

    threads = [threading.Thread(target=guard, name=f"{name}{i}") for i in range(min(at_most or len(fns), len(fns)))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        kill_all()
        raise
    if errors:
        if all(isinstance(e, Exception) for e in errors):
            allow_jobs()
        raise errors[0]
