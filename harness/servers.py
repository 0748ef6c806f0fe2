"""Tuning servers for sweeps on other hosts: a TVM RPC tracker, and groups of servers on a host's
shares that register with it, for clients that use it (`slicetune.tracker=HOST:PORT`).

    python -m harness.servers tracker --bind 10.0.0.5 --port 9190
    python -m harness.servers serve --tracker 10.0.0.5:9190 --bind 10.0.0.6 --gpus 2 --shares 50,50

`serve` starts its own MPS daemon per GPU (cuda) and one server per share on every GPU, each
registered under a key naming this host, the GPU and the share (`node-cuda1-50pct`), restarts a
server that dies, and stops them all (daemons too) on Ctrl-C or SIGTERM. On cpu the servers of
one group split the cores this process may use (run two groups under `taskset` to keep them apart).
TVM's RPC servers run whatever module they are sent: anything but loopback is for a trusted
network only (a warning says so).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import time

from harness.config import ConfigError
from harness.device.gpu import gpu_uuids
from harness.device.mps import DEFAULT_DIR, MPSDaemon, MPSDaemons
from harness.jobs import Share
from harness.slicetune.servers import PoolError, ServerPool, exposed
from harness.validation import address

log = logging.getLogger("harness")


def _shares(text: str) -> list[float]:
    try:
        pcts = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        pcts = []
    if not pcts or any(not 0 < p <= 100 for p in pcts):
        raise argparse.ArgumentTypeError(f"--shares {text!r}: give percentages in (0, 100], e.g. 50,50")
    return pcts


def _stop_on_sigterm() -> None:
    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def tracker(bind: str, port: int) -> int:
    if (warning := exposed(bind)) is not None:
        log.warning(warning)
    # the tracker's own process (its group ends with it)
    os.execv(sys.executable, [sys.executable, "-m", "harness.worker.rpc_tracker", "--host", bind, "--port", str(port),
                              "--port-end", str(port + 1)])
    return 1  # not reached


def serve(args) -> int:
    t_host, t_port = address("--tracker", args.tracker)
    node = args.name or socket.gethostname().split(".")[0]
    shares = [Share(args.platform, p) for p in args.shares] * args.gpus
    uuids = gpu_uuids()[:args.gpus] if args.platform == "cuda" and args.gpus > 1 else None
    if args.platform == "cuda" and uuids is not None and len(uuids) < args.gpus:
        raise ConfigError(f"--gpus {args.gpus}: this host shows {len(uuids)} GPU(s)")
    if args.platform == "cpu" and args.gpus != 1:
        raise ConfigError(f"--gpus {args.gpus} is not allowed on --platform cpu: the CPU is one device")
    daemons = contextlib.nullcontext()
    if args.platform == "cuda":
        daemons = MPSDaemons(args.mps_dir, uuids) if uuids else MPSDaemon(args.mps_dir)
    _stop_on_sigterm()
    pool = ServerPool(shares, args.log_dir, args.mps_dir if args.platform == "cuda" else None,
                      devices=list(range(args.gpus)), host=args.bind, gpu_uuids=uuids, tracker=(t_host, t_port),
                      node=node)
    try:
        with daemons, pool:
            print(f"serving {len(shares)} server(s) on tracker {t_host}:{t_port}: {', '.join(pool.keys)} "
                  f"(logs in {args.log_dir}); Ctrl-C stops them", flush=True)
            while True:
                time.sleep(2.0)
                if again := pool.restart_dead():
                    log.warning("server(s) %s died and were restarted (logs in %s)", again, args.log_dir)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    ap = argparse.ArgumentParser(prog="python -m harness.servers", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tracker", help="run a TVM RPC tracker")
    t.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: loopback)")
    t.add_argument("--port", type=int, default=9190)
    s = sub.add_parser("serve", help="start servers on this host's shares, registered with a tracker")
    s.add_argument("--tracker", required=True, help="HOST:PORT of the tracker")
    s.add_argument("--bind", default="127.0.0.1", help="address the servers listen on (default: loopback)")
    s.add_argument("--platform", choices=["cuda", "cpu"], default="cuda")
    s.add_argument("--gpus", type=int, default=1, help="GPUs to serve (0..N-1 of CUDA_VISIBLE_DEVICES)")
    s.add_argument("--shares", type=_shares, required=True, help="percent per server on each GPU, e.g. 50,50")
    s.add_argument("--name", default="", help="this host's name in the keys (default: the host name)")
    s.add_argument("--log-dir", default="servers-logs")
    s.add_argument("--mps-dir", default=DEFAULT_DIR)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "tracker":
            return tracker(a.bind, a.port)
        return serve(a)
    except (ConfigError, PoolError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
