"""TVM's RPC tracker, ended with everything it started when it is told to stop.

TVM's tracker runs in a child process of its own; stopped with SIGTERM (or by the death of the
sweep that started it: harness.device.proc sets the parent-death signal) only the parent would
end. This process leads its own process group, so a stop takes the whole group.

    python -m harness.worker.rpc_tracker --host H --port P --port-end E
"""

from __future__ import annotations

import argparse
import sys

from harness.worker.group import die_with_group


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.worker.rpc_tracker", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9190)
    ap.add_argument("--port-end", type=int, default=9199)
    args = ap.parse_args(argv)
    die_with_group()
    from tvm.rpc.tracker import Tracker

    tracker = Tracker(args.host, port=args.port, port_end=args.port_end, silent=False)
    tracker.proc.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
