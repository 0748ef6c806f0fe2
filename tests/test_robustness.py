"""A sweep survives a failing cell, a hung worker, a dead server, a second sweep and a damaged
result file, and leaves nothing behind however it ends (real workers, servers and sweeps)."""

import json
import logging
import gzip
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from harness import results as R
from harness.cells import plan
from harness.config import InferConf, ModelConf, SweepConf, TunerConf
from harness.device.proc import Deadline, JobTimeout, run_job, together
from harness.experiments import run_sweep
from harness.experiments.ticker import Ticker, read_progress
from harness.jobs import Placement, Progress, RoundRecord, Share, TasksJob
from harness.layout import PROGRESS, Step
from harness.records import write_json
from harness.sweep import report
from tests.conftest import ROOT


def conf(tmp_path, **kw) -> SweepConf:
    return SweepConf(name="robust", model=ModelConf(name="tiny_mlp"), tuner=TunerConf(trials=4, trials_per_round=4),
                     infer=InferConf(warmup=1, number=5, repeats=3), results_dir=str(tmp_path / "results"),
                     runs_dir=str(tmp_path / "runs"), **kw)


# -- result files

def test_damaged_rows_are_not_trusted(tmp_path, caplog):
    path = tmp_path / "inference.csv"
    path.write_text("cell_id,latency_ms\na,1.0\nb,2.0\nc,3.\x000\nd,4.0,extra\ne")
    with caplog.at_level(logging.WARNING, logger="harness"):
        assert R.done_cells(str(path)) == {"a", "b"}  # c: NUL byte, d: too long, e: cut short
    assert str(path) in caplog.text and "malformed" in caplog.text
    R.write_rows(str(path), [{"cell_id": "e", "latency_ms": 5.0}], replace_cells={"e"})
    assert [r["cell_id"] for r in R.read_rows(str(path))] == ["a", "b", "e"]


def test_a_foreign_file_is_named_and_left_alone(tmp_path):
    path = tmp_path / "tuning.csv"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(R.ResultFileError, match="no cell_id column"):
        R.done_cells(str(path))
    assert path.read_text() == "x,y\n1,2\n"


# -- deadlines and progress

def test_stalled_job_deadline(tmp_path):
    watch = tmp_path / "progress.json"
    d = Deadline(watch=str(watch), stall_s=5)
    assert d.passed(time.time()) is None
    assert "no progress" in d.passed(time.time() - 10)
    watch.write_text("{}")
    assert d.passed(time.time() - 10) is None  # it just changed
    assert "longer than 1 s" in Deadline(total_s=1).passed(time.time() - 2)


def _alive_children() -> set:
    """Descendants still running (an ended one may linger a moment as a zombie)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.add(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_hung_worker_is_ended_at_its_deadline(tmp_path):
    hang = tmp_path / "hang.onnx"
    os.mkfifo(hang)  # reading the model blocks for good: nobody writes (resnet50's listing, used
    # before, once finished inside 2 s on a warm idle machine and the test failed)
    job = TasksJob(Placement("cpu", 100), ModelConf(name="onnx", path=str(hang)))
    before = _alive_children()
    t0 = time.time()
    with pytest.raises(JobTimeout, match="longer than 2 s"):
        run_job("tasks", job, Step(str(tmp_path), "tasks"), Share("cpu", 100), deadline=Deadline(total_s=2))
    assert time.time() - t0 < 30
    assert not _alive_children() - before
    assert not (tmp_path / "tasks.tmp").exists()


def test_progress_inside_a_cell(tmp_path):
    paths = [str(tmp_path / f"c{i}" / PROGRESS) for i in range(2)]
    for i, p in enumerate(paths):
        os.makedirs(os.path.dirname(p))
        rounds = [RoundRecord(0, f"task{i}", 1.0, 4 * (i + 1), 4, 4, 1.0, None)]
        write_json(p, Progress(trials_done=4 * (i + 1), rounds=rounds))
    assert read_progress(paths) == (12, "task1")
    ticker = Ticker(None)
    with ticker.watch(paths, 16):
        assert ticker.line().startswith("12/16 trials, 0.00/s, task")
    assert ticker.line() is None


def test_a_segment_cut_short_still_counts(tmp_path):
    from harness.experiments.comparison import CellState, Segment
    from harness.experiments.throughput import Throughput

    exp = Throughput(conf(tmp_path, experiment="throughput"))
    cell = next(iter(exp.cells))
    os.makedirs(cell.work_dir)
    write_json(os.path.join(cell.work_dir, "cell.state.json"), CellState(10.0, 1, open_since=100.0, last_seen=160.0))
    seg = Segment(exp, cell, R.THROUGHPUT)
    assert (seg.state.wall_s, seg.state.segments, seg.state.open_since) == (70.0, 2, None)
    with seg:
        time.sleep(0.2)
    assert seg.state.segments == 3 and 70.2 <= seg.state.wall_s < 75


def test_a_tuning_deadline_counts_from_when_the_job_was_made(tmp_path):
    """The sweep's time left goes into the job when it is made; the worker's start-up (imports,
    task extraction, builder warm-up) spends it too, or a slice overruns its device call."""
    from harness.jobs import TuneJob
    from harness.layout import tune_step

    tuner = TunerConf(trials=4, trials_per_round=2, population=8, init_min_unmeasured=2)
    work = str(tmp_path / "t")
    job = TuneJob(Placement("cpu", 100), ModelConf(name="tiny_mlp"), tuner, work, builder_timeout_s=60,
                  compile=False, deadline_s=600, made_at=time.time() - 3600)  # spent long ago
    res = run_job("tune", job, tune_step(work), Share("cpu", 100))
    assert not res.complete and res.trials_done == 2  # stopped at its first round's end


def test_a_measurement_that_cannot_finish_before_the_deadline_does_not_start(tmp_path):
    """The slice's hard stop follows its deadline by less than a PyTorch measurement takes."""
    from harness.experiments.interdependency import Interdependency

    exp = Interdependency(conf(tmp_path, tune_deadline_s=1.0))
    os.makedirs(exp.plan.run_dir, exist_ok=True)
    ran = []

    def measure(share, cells, step):
        time.sleep(0.6)
        ran.append(cells)

    share = Share("cpu", 100)
    assert exp.measure_on(share, ["a"], measure, ["a"]) is not None
    assert exp.measure_on(share, ["b"], measure, ["b"]) is None  # ~0.4 s left, the last one took 0.6
    assert ran == [["a"]] and exp.summary.paused == ["b"]


def test_jobs_side_by_side_run_at_most_so_many_at_once_in_their_order():
    """together(at_most=2), as a sweep compiles its models: two at once, never three, first come first."""
    both = threading.Barrier(2, timeout=30)  # the first two must be running at the same time
    lock, started, running, peak = threading.Lock(), [], [0], [0]

    def job(i):
        with lock:
            started.append(i)
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if i < 2:
            both.wait()
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    together([lambda i=i: job(i) for i in range(6)], "t", at_most=2)
    assert peak[0] == 2 and set(started[:2]) == {0, 1} and sorted(started) == list(range(6))


# -- whole sweeps

@pytest.mark.slow
def test_a_failing_cell_does_not_end_the_sweep(tmp_path):
    cfg = conf(tmp_path, tune_shares=[50, 100], infer_shares=[100], untuned=False)
    bad = next(c for c in plan(cfg).tune if c.share.pct == 50)
    os.makedirs(bad.work_dir)
    for f in ("database_tuning_record.json", "database_workload.json"):  # a damaged database
        (tmp_path / bad.work_dir / f).write_text("not json")
    write_json(os.path.join(bad.work_dir, PROGRESS), Progress())
    summary = run_sweep(cfg)
    assert list(summary.failed) == [bad.id] and "tune job" in summary.failed[bad.id]
    out = tmp_path / "results" / "cpu" / "robust"
    (fail,) = R.read_rows(str(out / R.FAILURES))
    assert fail["cell_id"] == bad.id and fail["log"].endswith("tune.log") and os.path.exists(fail["log"])
    assert {r["tune_share"] for r in R.read_rows(str(out / R.INFERENCE))} == {"100.0"}  # the other cell went on
    assert report(cfg, summary) == 1

    # a row cut short is measured again (the failing cell still fails)
    text = gzip.decompress((out / R.INFERENCE).read_bytes()).decode()
    (out / R.INFERENCE).write_bytes(gzip.compress(text[: text.rindex(",")].encode()))
    again = run_sweep(cfg)
    assert [c for c in again.ran if "@infer" in c] and list(again.failed) == [bad.id]
    assert len(R.read_rows(str(out / R.INFERENCE))) == 3


def smoke_cli(tmp_path, *extra):
    return [sys.executable, "-m", "harness.sweep", "+exp=smoke", "tuner.trials=8", "infer.repeats=3",
            f"results_dir={tmp_path / 'results'}", f"runs_dir={tmp_path / 'runs'}", *extra]


@pytest.mark.slow
def test_two_sweeps_on_one_directory_tune_each_cell_once(tmp_path):
    """A sweep and, at the same time, a Hydra multirun over two models (its first job the same
    cell) write to one results directory: each cell tuned once, every model's rows kept."""
    multirun = smoke_cli(tmp_path, "model=tiny_mlp,tiny_cnn")
    clis = [smoke_cli(tmp_path), [*multirun[:3], "-m", *multirun[3:]]]  # -m before the overrides
    procs = [subprocess.Popen(c, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONPATH": ROOT}) for c in clis]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    out = tmp_path / "results" / "cpu" / "smoke"
    rows = R.read_rows(str(out / R.TUNING))
    assert sorted(r["model"] for r in rows) == ["tiny_cnn", "tiny_mlp"]
    for row in rows:
        records = tmp_path / "runs" / "cpu" / "smoke" / row["cell_id"] / "database_tuning_record.json"
        assert len(records.read_text().splitlines()) == int(row["trials_done"]) >= 8  # once, not twice
    inf = R.read_rows(str(out / R.INFERENCE))
    assert len(inf) == 2 * 2 * 3 and len({r["cell_id"] for r in inf}) == 2 * 2
    assert len(list((tmp_path / "runs" / "cpu" / "interdependency" / "logs").glob("multirun-*/1"))) == 1
    assert not (tmp_path / "multirun").exists()


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:  # ended meanwhile (or a zombie)
        return ""


@pytest.mark.slow
def test_kill9_of_the_sweep_leaves_no_process(tmp_path):
    cmd = [sys.executable, "-m", "harness.sweep", "+exp=quick_tuning_time", "model=tiny_mlp", "tuner.trials=64",
           "tuner.trials_per_round=4", "slicetune.baseline=false", "slicetune.servers=[2]",
           "slicetune.builders=[persistent]", f"results_dir={tmp_path / 'results'}", f"runs_dir={tmp_path / 'runs'}"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    family: list[psutil.Process] = []
    while time.time() < deadline:  # the pool is up and both clients are tuning (in kept worker processes)
        family = psutil.Process(p.pid).children(recursive=True)
        cmds = [_cmdline(c) for c in family]
        if sum("rpc_server" in c for c in cmds) >= 2 and sum("worker serve" in c for c in cmds) >= 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the Slice-Tune cell never started")
    time.sleep(3)
    family = psutil.Process(p.pid).children(recursive=True)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    gone, alive = psutil.wait_procs(family, timeout=20)
    assert not alive, [_cmdline(a) for a in alive]


def test_builder_startup_is_measured(tmp_path, monkeypatch):
    from harness.experiments import jobs

    monkeypatch.setattr(jobs, "CACHE_DIR", str(tmp_path))
    j = jobs.Jobs(conf(tmp_path))
    timeout = j.builder_timeout_s()
    (result,) = [f for f in os.listdir(tmp_path) if f.endswith(".result.json")]
    startup = json.load(open(tmp_path / result))["startup_s"]
    assert startup > 0.5 and timeout == pytest.approx(30.0 + startup, abs=0.1)
    assert jobs.Jobs(conf(tmp_path)).builder_timeout_s() == timeout  # kept for this machine
