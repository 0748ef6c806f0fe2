"""CUDA MPS: a private control daemon, the client environment of a share, and the SM check.

    with MPSDaemon("/tmp/slicetune-mps"):      # starts (or reuses a healthy) daemon
        ...clients with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE...
    # on exit, error or signal: its clients are stopped first, then the daemon is told to quit

`python -m harness.mps status|stop [--dir DIR]` shows and cleans up.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time

CONTROL = "nvidia-cuda-mps-control"
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


def gpu_uuids() -> list[str]:
    """UUIDs of the GPUs this process may use (CUDA_VISIBLE_DEVICES by index or UUID), in
    CUDA's order. MPS remaps indices, so daemons and their clients are pinned by UUID."""
    import pynvml

    pynvml.nvmlInit()
    try:
        uuids = [pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
                 for i in range(pynvml.nvmlDeviceGetCount())]
    finally:
        pynvml.nvmlShutdown()
    return visible_uuids([u.decode() if isinstance(u, bytes) else u for u in uuids],
                         os.environ.get("CUDA_VISIBLE_DEVICES"))


def visible_uuids(uuids: list[str], visible: str | None) -> list[str]:
    """The GPUs (UUIDs, NVML order) that CUDA_VISIBLE_DEVICES=`visible` selects, in its order."""
    if visible is None:
        return uuids
    out = []
    for v in (x.strip() for x in visible.split(",") if x.strip()):
        match = [u for u in uuids if u == v or u.startswith(v)] if not v.isdigit() else \
            ([uuids[int(v)]] if int(v) < len(uuids) else [])
        if not match:
            break  # CUDA ignores the rest after an invalid entry
        out.append(match[0])
    return out


def daemon_env(mps_dir: str) -> dict[str, str]:
    pipe, log = dirs(mps_dir)
    return {"CUDA_MPS_PIPE_DIRECTORY": pipe, "CUDA_MPS_LOG_DIRECTORY": log}


def client_env(pct: float, mps_dir: str | None) -> dict[str, str]:
    env = {"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": f"{pct:g}"}
    if mps_dir:
        env.update(daemon_env(mps_dir))
    return env


def expected_sms(pct: float, total: int) -> int:
    """SMs MPS grants for `pct`: whole TPCs (2 SMs) of the share, as seen on the H200
    (10/25/50/100% of 132 SMs -> 12/32/66/132)."""
    return max(2, int(pct / 100 * total / 2) * 2) if pct < 100 else total


def check_sms(pct: float, granted: int, total: int) -> None:
    """Refuse to record data from a process that did not get its share (e.g. a client that
    cannot reach the daemon silently runs on the whole GPU)."""
    if pct < 100 and granted >= total:
        raise MPSError(f"share {pct:g}% was asked but the process sees all {total} SMs: it is not "
                       "running under the MPS daemon (check CUDA_MPS_PIPE_DIRECTORY)")
    want = expected_sms(pct, total)
    if abs(granted - want) > max(2, round(0.03 * total)):
        raise MPSError(f"share {pct:g}% should give about {want} of {total} SMs, the process sees {granted}")


def total_sms(device_id: int = 0) -> int:
    """SM count of the whole GPU, read through the driver API (no context is created)."""
    cuda = ctypes.CDLL("libcuda.so.1")
    if cuda.cuInit(0) != 0:
        raise MPSError("cuInit failed: no usable CUDA driver")
    dev, n = ctypes.c_int(), ctypes.c_int()
    if cuda.cuDeviceGet(ctypes.byref(dev), device_id) != 0:
        raise MPSError(f"no CUDA device {device_id}")
    cuda.cuDeviceGetAttribute(ctypes.byref(n), 16, dev)  # CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    return n.value


def probe_total_sms(device_id: int = 0) -> int:
    """total_sms in a throw-away process (before any daemon or client exists)."""
    code = f"from harness.mps import total_sms; print(total_sms({device_id}))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUDA_MPS_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    if out.returncode != 0:
        raise MPSError(f"could not read the GPU's SM count: {out.stderr.strip()[-500:]}")
    return int(out.stdout.strip().splitlines()[-1])


def check_gpu(device_id: int = 0) -> None:
    """Raise ConfigError unless an NVIDIA GPU `device_id` and the MPS control tool are usable."""
    from harness.config import ConfigError

    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            n = pynvml.nvmlDeviceGetCount()
        finally:
            pynvml.nvmlShutdown()
    except Exception as e:  # noqa: BLE001 - NVMLError and a missing library alike
        raise ConfigError(f"platform=cuda needs a usable NVIDIA GPU, but NVML says: {e}; "
                          "use platform=cpu on this machine") from e
    if not 0 <= device_id < n:
        raise ConfigError(f"platform.device_id={device_id} is not allowed; this machine has GPUs 0..{n - 1}")
    if shutil.which(CONTROL) is None:
        raise ConfigError(f"platform=cuda needs {CONTROL} on PATH (CUDA MPS); use platform=cpu on this machine")


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
    ap = argparse.ArgumentParser(prog="python -m harness.mps", description="Show or stop slicetune's MPS daemon.")
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
