"""Worker processes kept up between jobs (harness.device.warm): reused when placed alike, ended
after a failure or a deadline, never left behind; a tuning job's builder workers kept too."""

import os
import time

import pytest

from harness.config import ModelConf, TunerConf
from harness.device.proc import Deadline, JobFailed, JobTimeout, run_job
from harness.device.warm import WarmPool
from harness.jobs import Placement, Share, TasksJob, TuneJob
from harness.layout import Step, tune_step
from tests.test_robustness import _alive_children

CPU = Share("cpu", 100)


def _tasks(tmp_path, name: str, model: ModelConf, pool: WarmPool, deadline=None):
    step = Step(str(tmp_path / name), "tasks")
    return run_job("tasks", TasksJob(Placement("cpu", 100), model), step, CPU, deadline=deadline, warm=pool), step


def test_a_kept_worker_runs_the_next_job_and_a_failed_or_hung_one_is_ended(tmp_path):
    before = _alive_children()
    hang = tmp_path / "hang.onnx"
    os.mkfifo(hang)  # reading the model blocks for good
    with WarmPool(str(tmp_path / "workers")) as pool:
        first, s1 = _tasks(tmp_path, "a", ModelConf(name="tiny_mlp"), pool)
        t0 = time.time()
        second, s2 = _tasks(tmp_path, "b", ModelConf(name="tiny_cnn"), pool)
        assert (pool.started, pool.reused) == (1, 1)
        assert first.tasks and second.tasks and {t.name for t in first.tasks} != {t.name for t in second.tasks}
        assert os.path.exists(s1.log) and os.path.exists(s2.log)
        assert len(_alive_children() - before) == 1  # one worker, waiting
        with pytest.raises(JobFailed, match="failed"):
            _tasks(tmp_path, "c", ModelConf(name="onnx", path=str(tmp_path / "none.onnx")), pool)
        assert "none.onnx" in open(Step(str(tmp_path / "c"), "tasks").log).read()  # the traceback, in its log
        assert not _alive_children() - before  # a worker whose job failed is not trusted again
        with pytest.raises(JobTimeout, match="longer than 3 s"):
            _tasks(tmp_path, "d", ModelConf(name="onnx", path=str(hang)), pool, Deadline(total_s=3))
        assert (pool.started, pool.reused) == (2, 2) and not _alive_children() - before
        _tasks(tmp_path, "e", ModelConf(name="tiny_mlp"), pool)
        assert pool.started == 3 and len(_alive_children() - before) == 1
        assert time.time() - t0 < 120
    assert not _alive_children() - before
    assert not (tmp_path / "workers").exists()


def test_a_kept_worker_keeps_its_builder_workers_for_the_next_tuning_job(tmp_path):
    tuner = TunerConf(trials=2, trials_per_round=2, builder="persistent", builder_workers=2, population=8,
                      init_min_unmeasured=2)
    with WarmPool(str(tmp_path / "workers")) as pool:
        logs, kept = [], []
        for name in ("a", "b"):
            work = str(tmp_path / name)
            job = TuneJob(Placement("cpu", 100), ModelConf(name="tiny_mlp"), tuner, work, builder_timeout_s=60,
                          compile=False)
            res = run_job("tune", job, tune_step(work), CPU, warm=pool)
            assert res.trials_done == 2
            kept.append(res.started_kept)
            logs.append(open(tune_step(work).log).read())
        assert (pool.started, pool.reused) == (1, 1) and kept == [False, True]
    assert "warm workers of the previous job" not in logs[0]
    assert "builder: the 2 warm workers of the previous job" in logs[1]


def test_a_worker_outlives_the_thread_that_asked_for_it(tmp_path):
    """A client's thread ends with its cell; its worker must not (parent-death signals follow the
    thread that started a child), or the next cell's clients start afresh."""
    import threading

    with WarmPool(str(tmp_path / "workers")) as pool:
        t = threading.Thread(target=_tasks, args=(tmp_path, "a", ModelConf(name="tiny_mlp"), pool))
        t.start()
        t.join()
        time.sleep(1)
        _tasks(tmp_path, "b", ModelConf(name="tiny_mlp"), pool)
        assert (pool.started, pool.reused) == (1, 1)
