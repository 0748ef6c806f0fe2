"""Tuning server pool: a TVM RPC tracker (on loopback unless told otherwise) and RPC servers, each on its own share
(harness.worker.rpc_server: TVM's server, serving sessions in-process rather than in forked children).

    with ServerPool([Share("cuda", 50), Share("cuda", 50)], log_dir, mps_dir=...) as pool:
        pool.tracker  # ("127.0.0.1", port) for MetaSchedule's RPCRunner
        pool.keys     # the key each server registered under (names device and share)

Servers are placed per GPU (`devices`), started on their share like every other process
(harness.device.proc), waited for until registered, restarted when they die, and all stopped on exit.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass

from harness.device.mps import dir_for
from harness.device.proc import kill_group, spawn
from harness.device.share import partition_cores
from harness.jobs import Share
from harness.layout import SESSION_TAG_ENV, SESSIONS_ENV
from harness.slicetune import tracker


class PoolError(RuntimeError):
    pass


def exposed(host: str) -> str | None:
    """A warning where `host` is not a loopback address: TVM's RPC servers run any module a client
    sends them, so they belong on a trusted network only."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        loopback = False
    if loopback:
        return None
    return (f"the RPC tracker and servers listen on {host}, not loopback: anyone who reaches them can run "
            "code on this machine (TVM's RPC servers run whatever module they are sent); use this only on "
            "a trusted network")


@dataclass(frozen=True)
class ServerSpec:
    key: str
    share: Share
    device_id: int


def server_key(share: Share, device_id: int, node: str = "") -> str:
    """The key a server registers under: its device and share, after its host's name where servers
    of several hosts share one tracker (python -m harness.servers serve)."""
    return f"{node + '-' if node else ''}{share.platform}{device_id}-{share.pct:g}pct"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def plan_servers(shares: list[Share], devices: list[int], node: str = "") -> list[ServerSpec]:
    """Spread the shares over the devices round-robin (one GPU: all on it)."""
    return [ServerSpec(server_key(s, devices[i % len(devices)], node), s, devices[i % len(devices)])
            for i, s in enumerate(shares)]


def _summary(host: str, port: int) -> dict | None:
    """The tracker's summary; None when it does not answer."""
    try:
        return tracker.summary(host, port)
    except OSError:
        return None


def registered(host: str, port: int) -> dict[str, int]:
    """Servers connected to the tracker at host:port, per key (busy ones included); {} when it does
    not answer."""
    info = (_summary(host, port) or {}).get("server_info", [])
    return dict(Counter(i["key"].split(":", 1)[1] for i in info if str(i.get("key", "")).startswith("server:")))


def tracker_answers(host: str, port: int) -> bool:
    return _summary(host, port) is not None


class ServerPool:
    def __init__(self, shares: list[Share], log_dir: str, mps_dir: str | None = None,
                 devices: list[int] | None = None, host: str = "127.0.0.1", start_timeout_s: float = 120.0,
                 gpu_uuids: list[str] | None = None, wait: bool = True, tracker: tuple[str, int] | None = None,
                 node: str = "", sessions: str | None = None):
        if not shares:
            raise PoolError("a server pool needs at least one share")
        self.specs = plan_servers(shares, devices or [0], node)
        self.external = tracker  # a tracker already running (servers of other hosts too): none of ours
        self.log_dir, self.mps_dir, self.host = log_dir, mps_dir, host
        if (warning := exposed(host)) is not None:
            logging.getLogger("harness").warning(warning)
        self.gpu_uuids = gpu_uuids  # cuda, several GPUs: one MPS daemon each (harness.device.mps.dir_for)
        self.start_timeout_s = start_timeout_s
        # a file the servers append their measurement sessions to (harness.layout.SESSIONS); absolute:
        # a server serves each session in a temporary directory
        self.sessions = os.path.abspath(sessions) if sessions else None
        self.wait = wait  # False: start() returns at once; call wait_registered() before use
        self.ready = False
        self.port = 0
        self._tracker = None
        self._servers: dict[int, object] = {}  # spec index -> Popen
        # cpu: side by side servers get disjoint core sets (on cuda, MPS splits the SMs)
        self._cores = partition_cores([s.share.pct for s in self.specs]) if shares[0].platform == "cpu" else None

    @property
    def tracker(self) -> tuple[str, int]:
        return self.external or (self.host, self.port)

    @property
    def keys(self) -> list[str]:
        return sorted({s.key for s in self.specs})

    def _spawn_server(self, i: int) -> None:
        spec = self.specs[i]
        port = free_port(self.host)
        t_host, t_port = self.tracker
        argv = [sys.executable, "-m", "harness.worker.rpc_server", "--host", self.host, "--port", str(port),
                "--port-end", str(port + 1), "--tracker", f"{t_host}:{t_port}", "--key", spec.key]
        mps_dir, env = self.placement(spec)
        if self.sessions:
            env = {**(env or {}), SESSIONS_ENV: self.sessions, SESSION_TAG_ENV: str(spec.device_id)}
        log = os.path.join(self.log_dir, f"server{i}-{spec.key}.log")
        cores = self._cores[i] if self._cores else None
        self._servers[i] = spawn(argv, spec.share, log, mps_dir, cores=cores, extra_env=env)

    def placement(self, spec: ServerSpec) -> tuple[str | None, dict[str, str] | None]:
        """(MPS daemon root, extra environment) of a server: on cuda it sees only its GPU, by
        UUID where several GPUs each have their daemon."""
        if spec.share.platform != "cuda":
            return self.mps_dir, None
        if not self.gpu_uuids:  # one GPU: the sweep's own, where it was pinned to one (side_by_side.sh)
            pinned = os.environ.get("CUDA_VISIBLE_DEVICES")
            return self.mps_dir, None if pinned else {"CUDA_VISIBLE_DEVICES": str(spec.device_id)}
        n = len(self.gpu_uuids)
        return (dir_for(self.mps_dir, spec.device_id, n) if self.mps_dir else None,
                {"CUDA_VISIBLE_DEVICES": self.gpu_uuids[spec.device_id]})

    def start(self) -> ServerPool:
        os.makedirs(self.log_dir, exist_ok=True)
        if self.external is None:
            self.port = free_port(self.host)
            argv = [sys.executable, "-m", "harness.worker.rpc_tracker", "--host", self.host, "--port", str(self.port),
                    "--port-end", str(self.port + 1)]
            self._tracker = spawn(argv, None, os.path.join(self.log_dir, "tracker.log"))
        else:  # it may be starting too
            deadline = time.time() + self.start_timeout_s
            while not tracker_answers(*self.external):
                if time.time() > deadline:
                    raise PoolError(f"no RPC tracker answers at {self.external[0]}:{self.external[1]} "
                                    f"within {self.start_timeout_s:g} s")
                time.sleep(0.5)
        for i in range(len(self.specs)):
            self._spawn_server(i)
        if self.wait:
            self.wait_registered()
        return self

    def registered(self) -> dict[str, int]:
        """Servers connected to the tracker, per key (busy ones included), as the tracker sees them."""
        return registered(*self.tracker)

    def wait_registered(self) -> None:
        want = Counter(s.key for s in self.specs)
        deadline = time.time() + self.start_timeout_s
        while True:
            have = self.registered()
            if all(have.get(k, 0) >= n for k, n in want.items()):
                self.ready = True
                return
            dead = self.dead()
            if self._tracker is not None and self._tracker.poll() is not None:
                raise PoolError(f"the RPC tracker exited; see {self.log_dir}/tracker.log")
            if dead or time.time() > deadline:
                why = f"server(s) {dead} exited" if dead else f"not all registered within {self.start_timeout_s:g} s"
                raise PoolError(f"server pool did not come up: {why}; want {dict(want)}, tracker has {have}; "
                                f"logs in {self.log_dir}")
            time.sleep(0.3)

    def dead(self) -> list[int]:
        return [i for i, p in self._servers.items() if p.poll() is not None]

    def restart_dead(self) -> list[int]:
        """Start again every server that exited; returns their indices."""
        dead = self.dead()
        for i in dead:
            kill_group(self._servers[i])
            self._spawn_server(i)
        if dead:
            self.wait_registered()
        return dead

    def pids(self) -> list[int]:
        procs = [*self._servers.values(), *([self._tracker] if self._tracker else [])]
        return [p.pid for p in procs]

    def stop(self) -> None:
        """Servers first (they are MPS clients), then the tracker."""
        for p in self._servers.values():
            kill_group(p)
        if self._tracker is not None:
            kill_group(self._tracker)

    def __enter__(self) -> ServerPool:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


class RemotePool:
    """The servers of one share registered on a tracker already running (started elsewhere by
    `python -m harness.servers serve`), seen as a pool: clients use them, nothing is started, and
    a server that dies is for its own host to restart. The cell asks for `count` of them."""

    def __init__(self, address: tuple[str, int], share: Share, count: int, log_dir: str,
                 start_timeout_s: float = 120.0):
        self.address, self.share, self.count, self.log_dir = address, share, count, log_dir
        self.start_timeout_s = start_timeout_s
        self.specs: list[ServerSpec] = []
        self.ready = False

    @property
    def tracker(self) -> tuple[str, int]:
        return self.address

    @property
    def keys(self) -> list[str]:
        return sorted({s.key for s in self.specs})

    def matching(self) -> dict[str, int]:
        """Registered servers of this share, per key (any host, any GPU)."""
        tail = re.compile(rf"(^|-){self.share.platform}\d+-{re.escape(f'{self.share.pct:g}')}pct$")
        return {k: n for k, n in registered(*self.address).items() if tail.search(k)}

    def wait_registered(self) -> None:
        deadline = time.time() + self.start_timeout_s
        while True:
            have = self.matching()
            if sum(have.values()) >= self.count:
                break
            if time.time() > deadline:
                raise PoolError(f"the tracker at {self.address[0]}:{self.address[1]} has {sum(have.values())} "
                                f"server(s) at {self.share.label} ({have or 'none'}), the cell asks for {self.count}; "
                                "start them with: python -m harness.servers serve")
            time.sleep(0.5)
        if sum(have.values()) > self.count:
            raise PoolError(f"the tracker at {self.address[0]}:{self.address[1]} has {sum(have.values())} servers at "
                            f"{self.share.label} ({have}), the cell asks for {self.count}: its rows would name the "
                            "wrong number; set slicetune.servers to match")
        self.specs = [ServerSpec(k, self.share, 0) for k, n in sorted(have.items()) for _ in range(n)]
        self.ready = True

    def dead(self) -> list[int]:
        return []

    def restart_dead(self) -> list[int]:
        return []

    def __enter__(self) -> RemotePool:
        self.wait_registered()
        return self

    def __exit__(self, *exc) -> None:
        pass
