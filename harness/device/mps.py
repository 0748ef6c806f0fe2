"""CUDA MPS: a private control daemon, and the client environment of a share.

    with MPSDaemon("/tmp/slicetune-mps"):      # starts (or reuses a healthy) daemon
        ...clients with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE...
    # on exit, error or signal: its clients are stopped first, then the daemon is told to quit

`python -m harness.device.mps status|stop [--dir DIR]` shows and cleans up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

from harness.device.gpu import CONTROL

DEFAULT_DIR = "/tmp/slicetune-mps"
# a pipe path past ~100 bytes lets the daemon start but never bind
MAX_PIPE_PATH = 90


class MPSError(RuntimeError):
    pass


def dirs(mps_dir: str) -> tuple[str, str]:
    """Pipe and log directories of a private MPS daemon rooted at `mps_dir`."""
    return os.path.join(mps_dir, "pipe"), os.path.join(mps_dir, "log")


def dir_for(base: str, gpu: int, n_gpus: int) -> str:
    """The daemon root of GPU `gpu` when `n_gpus` GPUs each have their own daemon (one GPU:
    `base` itself)."""
    return base if n_gpus <= 1 else f"{base}-g{gpu}"


def daemon_env(mps_dir: str) -> dict[str, str]:
    pipe, log = dirs(mps_dir)
    return {"CUDA_MPS_PIPE_DIRECTORY": pipe, "CUDA_MPS_LOG_DIRECTORY": log}


def client_env(pct: float, mps_dir: str | None) -> dict[str, str]:
    env = {"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": f"{pct:g}"}
    if mps_dir:
        env.update(daemon_env(mps_dir))
    return env


def parse_pids(text: str) -> list[int]:
    """PIDs in a control command's answer (one per line; other lines ignored)."""
    return [int(tok) for line in text.splitlines() for tok in line.split() if tok.isdigit()]


class MPSDaemon:
    """A private MPS control daemon as a context manager (see the module doc)."""

    def __init__(self, mps_dir: str = DEFAULT_DIR, quit_timeout_s: float = 20.0, gpu: str | None = None):
        self.mps_dir, self.gpu = mps_dir, gpu  # gpu: a UUID to serve that GPU alone
        self.pipe, self.log = dirs(mps_dir)
        if len(self.pipe) > MAX_PIPE_PATH:
            raise MPSError(f"MPS pipe directory {self.pipe!r} is {len(self.pipe)} bytes; keep it under "
                           f"{MAX_PIPE_PATH} (the daemon would start but never bind)")
        self.quit_timeout_s = quit_timeout_s
        self.reused = False
        self.started = False

    def env(self) -> dict[str, str]:
        pin = {"CUDA_VISIBLE_DEVICES": self.gpu} if self.gpu else {}
        return {**os.environ, **daemon_env(self.mps_dir), **pin}

    def control(self, command: str, timeout_s: float = 10.0) -> str:
        """Send one command to the daemon; raise MPSError when it does not answer."""
        try:
            out = subprocess.run([CONTROL], input=command + "\n", capture_output=True, text=True,
                                 env=self.env(), timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise MPSError(f"MPS daemon did not answer {command!r} within {timeout_s:g} s") from e
        except FileNotFoundError as e:
            raise MPSError(f"{CONTROL} is not on PATH") from e
        if out.returncode != 0:
            raise MPSError(f"MPS daemon refused {command!r}: {(out.stderr or out.stdout).strip()}")
        return out.stdout

    def healthy(self) -> bool:
        if not os.path.exists(os.path.join(self.pipe, "control")):
            return False
        try:
            self.control("get_server_list", timeout_s=5)
            return True
        except MPSError:
            return False

    def start(self) -> MPSDaemon:
        if self.healthy():
            self.reused = True
            return self
        # a pipe directory can outlive a dead daemon: start from clean directories
        shutil.rmtree(self.pipe, ignore_errors=True)
        os.makedirs(self.pipe, exist_ok=True)
        os.makedirs(self.log, exist_ok=True)
        out = subprocess.run([CONTROL, "-d"], env=self.env(), capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise MPSError(f"{CONTROL} -d failed: {(out.stderr or out.stdout).strip()}")
        try:
            deadline = time.time() + 15
            while not self.healthy():
                if time.time() > deadline:
                    raise MPSError(f"MPS daemon did not come up; see {self.log}/control.log")
                time.sleep(0.2)
        except BaseException:
            self.kill_daemon()  # never leave a daemon that nobody will stop
            raise
        self.started = True
        return self

    def daemon_pids(self) -> list[int]:
        """MPS control/server processes serving this pipe directory."""
        import psutil

        pids = []
        for p in psutil.process_iter(["name"]):
            try:
                if (p.info["name"] or "").startswith("nvidia-cuda-mps") and \
                        p.environ().get("CUDA_MPS_PIPE_DIRECTORY") == self.pipe:
                    pids.append(p.pid)
            except (psutil.Error, OSError):
                continue
        return pids

    def kill_daemon(self) -> None:
        for pid in self.daemon_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def servers(self) -> list[int]:
        return parse_pids(self.control("get_server_list"))

    def clients(self) -> list[int]:
        pids = []
        for server in self.servers():
            pids += parse_pids(self.control(f"get_client_list {server}"))
        return pids

    def stop_clients(self, grace_s: float = 5.0) -> None:
        try:
            pids = self.clients()
        except MPSError:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [p for p in pids if _alive(p)]
            for p in alive:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + grace_s
            while any(_alive(p) for p in alive) and time.time() < deadline:
                time.sleep(0.1)

    def stop(self) -> None:
        """Clients first (a `quit` waits while clients live), then the daemon."""
        if not self.healthy():
            return
        self.stop_clients()
        try:
            self.control("quit", timeout_s=self.quit_timeout_s)
        except MPSError:
            pass
        deadline = time.time() + self.quit_timeout_s
        while self.healthy() and time.time() < deadline:
            time.sleep(0.2)
        if self.healthy():
            self.kill_daemon()

    def __enter__(self) -> MPSDaemon:
        return self.start()

    def __exit__(self, *exc) -> None:
        # a reused daemon and its clients belong to whoever started it (ours are gone by now:
        # every job's process group is stopped when it ends)
        if not self.reused:
            self.stop()


class MPSDaemons:
    """One private daemon per GPU (each with its own pipe and log directory, pinned by UUID);
    entered together, stopped in reverse order."""

    def __init__(self, base: str, uuids: list[str]):
        self.daemons = [MPSDaemon(dir_for(base, i, len(uuids)), gpu=u) for i, u in enumerate(uuids)]

    def __enter__(self) -> MPSDaemons:
        started = []
        try:
            for d in self.daemons:
                started.append(d.__enter__())
        except BaseException:
            for d in reversed(started):
                d.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for d in reversed(self.daemons):
            d.__exit__(*exc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.device.mps",
                                 description="Show or stop slicetune's MPS daemon.")
    ap.add_argument("command", choices=["status", "stop"])
    ap.add_argument("--dir", default=DEFAULT_DIR, help=f"the daemon's root directory (default {DEFAULT_DIR})")
    args = ap.parse_args(argv)
    d = MPSDaemon(args.dir)
    if not d.healthy():
        print(f"no MPS daemon answers at {d.pipe}")
        return 0 if args.command == "stop" else 1
    if args.command == "status":
        servers = d.servers()
        print(f"MPS daemon at {d.pipe}: {len(servers)} server(s)")
        for s in servers:
            print(f"  server {s}: clients {parse_pids(d.control(f'get_client_list {s}'))}")
        return 0
    d.stop()
    print("stopped" if not d.healthy() else "the daemon is still answering")
    return 0 if not d.healthy() else 1


if __name__ == "__main__":
    sys.exit(main())
