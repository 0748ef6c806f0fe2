"""Entry point of every child process: `python -m harness.worker KIND JOB.json RESULT.json`
(or `serve FD`: one job after another, harness.worker.serve).

The parent (harness.device.proc) has already placed this process on its share (affinity, MPS
environment); the worker runs one job of harness.jobs.KINDS and writes its typed result
atomically.
"""

from __future__ import annotations

import sys

from harness.jobs import KINDS
from harness.records import read_json, write_json
from harness.worker.group import die_with_group
from harness.worker import compile as compile_step
from harness.worker import infer, ops, probe, serve, tasks, tune

RUNS = {"probe": probe.run, "tasks": tasks.run, "tune": tune.run, "compile": compile_step.run, "infer": infer.run,
        "vendor": lambda job: _vendor().run(job), "ops": ops.run}


def _vendor():
    from harness.worker import vendor  # imports torch: only where it is used

    return vendor


def main(argv: list[str]) -> int:
    if argv[0] == "serve":
        return serve.serve(RUNS, int(argv[1]))
    kind, job_path, result_path = argv
    die_with_group()
    write_json(result_path, RUNS[kind](read_json(job_path, KINDS[kind][0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
