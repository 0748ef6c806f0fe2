"""A TVM RPC server that serves each session in the server's own process.

TVM's server forks a child for every session. On the H200 under MPS every such child failed at
its first CUDA call (`cudaErrorInitializationError`: CUDA cannot be used in a child forked after
its parent initialised it), so every RPCRunner measurement failed; `--no-fork` spawns instead,
paying a TVM import (~10 s there) per measured candidate. Serving in-process keeps one CUDA
context for the server's life; a server served its sessions one at a time anyway. Where
SLICETUNE_SESSIONS names a file, each session's span is appended to it (`note_session`): one
RPCRunner session measures one candidate, so the file says how many servers measured at a time.

    python -m harness.worker.rpc_server --host H --port P --port-end E --tracker H:P --key K
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
import types

from harness.layout import SESSION_TAG_ENV, SESSIONS_ENV
from harness.worker.group import die_with_group


class _Fd:
    def __init__(self, fd: int):
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class InProcess:
    """Stands in for multiprocessing.Process in tvm.rpc.server: runs the session at start()."""

    def __init__(self, target, args=()):
        self.target, self.args = target, args
        self.exitcode: int | None = None
        self.pid = os.getpid()

    def start(self) -> None:
        args = list(self.args)
        if args and hasattr(args[0], "fileno"):
            # the session loop closes the socket it is given, and the server closes its own
            # after the session (a forked child had a copy): give the loop a copy
            args[0] = _Fd(os.dup(args[0].fileno()))
        start = time.time()
        try:
            self.target(*args)
        except Exception:  # noqa: BLE001 - the client got the error through the session; keep serving
            logging.getLogger("RPCServer").exception("RPC session failed")
        note_session(start, time.time())
        self.exitcode = 0

    def join(self, timeout=None) -> None:  # noqa: ARG002 - the session already ran
        return None

    def is_alive(self) -> bool:
        return False


def note_session(start: float, end: float) -> None:
    """Append a served session's span to the SLICETUNE_SESSIONS file, if set: one short write in
    append mode, so the servers of a pool share one file. A note, never a reason not to serve."""
    path = os.environ.get(SESSIONS_ENV)
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.environ.get(SESSION_TAG_ENV, '')},{start:.6f},{end:.6f}\n".encode())
        finally:
            os.close(fd)
    except OSError as e:
        print(f"rpc_server: could not note a session in {path}: {e}", flush=True)


def serve_in_process() -> None:
    """server_init_callback: runs in the server's worker before it listens."""
    import tvm.rpc.server as server

    server.multiprocessing = types.SimpleNamespace(Process=InProcess, set_start_method=lambda *a, **k: None)
    log_grant()


def log_grant() -> None:
    """The SMs this server sees (under MPS: its share) and which GPU, in its log: it opens the
    CUDA context its sessions use, in the process that serves them."""
    try:
        import tvm

        dev = tvm.cuda(0)
        if dev.exist:
            print(f"rpc_server: {dev.multi_processor_count} SMs of {dev.device_name} (CUDA_VISIBLE_DEVICES="
                  f"{os.environ.get('CUDA_VISIBLE_DEVICES', '')}, MPS share "
                  f"{os.environ.get('CUDA_MPS_ACTIVE_THREAD_PERCENTAGE', 'none')})", flush=True)
    except Exception as e:  # noqa: BLE001 - a note in the log, never a reason not to serve
        print(f"rpc_server: could not read its GPU: {e}", flush=True)


def wait_for_port(host: str, port: int, timeout_s: float = 120.0) -> None:
    """Until the tracker listens: TVM's server retries only every 5 s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.worker.rpc_server", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9090)
    ap.add_argument("--port-end", type=int, default=9199)
    ap.add_argument("--tracker", required=True, help="host:port of the RPC tracker")
    ap.add_argument("--key", required=True, help="the key the server registers under")
    args = ap.parse_args(argv)
    die_with_group()
    from tvm import rpc

    host, port = args.tracker.rsplit(":", 1)
    wait_for_port(host, int(port))
    server = rpc.Server(args.host, args.port, args.port_end, key=args.key, tracker_addr=(host, int(port)),
                        server_init_callback=serve_in_process)
    server.proc.join()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
