"""Entry point of every child process: `python -m harness.worker KIND JOB.json RESULT.json`.

The parent (harness.proc) has already placed this process on its share (affinity, MPS
environment); the worker runs one job and writes its typed result atomically.
"""

from __future__ import annotations

import os
import signal
import sys

from harness.records import read_json, write_json


def _jobs():
    from harness import infer, tasks, tune

    return {
        "tasks": (tasks.TasksJob, tasks.run),
        "tune": (tune.TuneJob, tune.run),
        "compile": (tune.CompileJob, tune.run_compile),
        "infer": (infer.InferJob, infer.run),
    }


def _die_with_group(signum, frame):  # noqa: ARG001
    # this process leads its own process group: take MetaSchedule's pool workers with it
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    kind, job_path, result_path = argv
    signal.signal(signal.SIGTERM, _die_with_group)
    signal.signal(signal.SIGINT, _die_with_group)
    job_cls, fn = _jobs()[kind]
    write_json(result_path, fn(read_json(job_path, job_cls)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
