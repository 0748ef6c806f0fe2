"""`python -m harness.worker serve FD`: run jobs one after another in this process (see
harness.device.warm). Each request on stdin is a JSON line {kind, job, result, log}; the job's
output goes to its log; the answer on FD is 0 (result written) or 1, and after a failure the
process ends (what a failed job left behind is not trusted with the next)."""

from __future__ import annotations

import json
import os
import sys
import traceback

from harness.jobs import KINDS, SERVE_LOG_ENV
from harness.records import read_json, write_json
from harness.worker.group import die_with_group
from harness.worker.metaschedule import builder

_jobs_before = 0  # jobs this process ran before the current one


def _output_to(log: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _one(runs: dict, request: dict) -> bool:
    _output_to(request["log"])
    kind = request["kind"]
    try:
        write_json(request["result"], runs[kind](read_json(request["job"], KINDS[kind][0])))
        return True
    except Exception:  # noqa: BLE001 - reported in the job's log; the parent raises JobFailed
        traceback.print_exc()
        return False
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        if os.environ.get(SERVE_LOG_ENV):  # between jobs: the worker's own log
            _output_to(os.environ[SERVE_LOG_ENV])


def kept() -> bool:
    """Whether this process ran an earlier job (its imports and builder workers are warm)."""
    return _jobs_before > 0


def serve(runs: dict, reply_fd: int) -> int:
    global _jobs_before
    die_with_group()
    builder.keep_between_jobs()
    with os.fdopen(reply_fd, "w", buffering=1) as replies:
        while line := sys.stdin.readline():  # the pool closing our stdin: done
            ok = _one(runs, json.loads(line))
            _jobs_before += 1
            replies.write("0\n" if ok else "1\n")
            if not ok:
                return 1
    return 0
