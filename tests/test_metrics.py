"""harness.metrics from a fixture: two clients over two segments, with utilisation samples."""

import time

import pytest

from harness import metrics as M
from harness.device.monitor import Sampler
from harness.jobs import Grant, RoundRecord, Span, TaskInfo, TuneResult

T0 = 1_000_000.0  # the first segment's start (epoch)
WINDOWS = [[T0, T0 + 100], [T0 + 500, T0 + 600]]  # 100 s, a pause of 400 s, 100 s: 200 s of cell time


def _round(i, task, at, candidates, best):
    return RoundRecord(i, task, 0.0, 0, candidates, candidates, best, None, at=at)


def _client(tasks, rounds):
    """Each round's candidates go to the runner 5 s before the round ends; round 0 built from 3 s."""
    spans = [Span(0, "build", rounds[0].at - 8, rounds[0].at - 5, 6.0)]
    spans += [Span(r.round, "measure", r.at - 5, r.at, 1.0) for r in rounds]
    return TuneResult(Grant(1, 1, "core"), "0.27", "llvm", tasks, 0.0, 0.0, sum(r.candidates for r in rounds),
                      rounds=rounds, spans=spans)


@pytest.fixture
def clients():
    a = _client([TaskInfo("a", 1.0, 2)], [_round(0, "a", T0 + 20, 8, 2.0), _round(1, "a", T0 + 60, 8, 1.0),
                                          _round(2, "a", T0 + 520, 8, 0.5)])
    b = _client([TaskInfo("b", 1.0, 1)], [_round(0, "b", T0 + 40, 8, 3.0), _round(1, "b", T0 + 80, 8, None)])
    return [a, b]


def _metrics(clients, samples):
    clock = M.Clock(WINDOWS)
    return M.metrics(clients, clock, samples, M.curve(clients, clock))


def test_clock_skips_the_pause():
    clock = M.Clock(WINDOWS)
    assert clock(T0 + 50) == 50 and clock(T0 + 520) == 120 and clock(T0 + 300) == 100 and clock(T0 + 700) == 200


def test_curve_starts_once_every_task_is_measured(clients):
    pts = M.curve(clients, M.Clock(WINDOWS))
    assert [(p.t_s, p.trials_done, p.est_model_ms) for p in pts] == [
        (40, 16, 2 * 2.0 + 3.0),  # b's first round: every task measured
        (60, 24, 2 * 1.0 + 3.0),
        (80, 32, 5.0),  # b's second round failed to measure: no change
        (120, 40, 2 * 0.5 + 3.0),  # in the second segment
    ]


def test_metrics(clients):
    samples = [{"epoch": T0 + t, "cpu_busy_cores": 2.0, "gpu_util_pct": g}
               for t, g in [(10, 0), (50, 10), (90, 30), (510, 50), (530, 70), (590, 90)]]
    m = _metrics(clients, samples)
    assert m.startup_s == 15  # a's first candidates sent to the runner
    # every client has sent its first at 35 s; 3 rounds of 8 sent after it, the last over at 120 s
    assert m.steady_trials_per_s == pytest.approx(24 / 85, abs=1e-4)
    # samples at cell time 10, 50, 90, 110 (530 s and 590 s are after the last round): 2 cores x 110 s
    assert m.cpu_s_per_trial == pytest.approx(2.0 * 110 / 40, abs=1e-3)
    assert m.gpu_busy_pct == pytest.approx((10 + 30 + 50) / 3, abs=0.1)  # from the steady state to the end
    assert m.est_final_ms == 4.0


def test_one_round_each_has_no_steady_state(clients):
    for c in clients:
        c.rounds = c.rounds[:1]
    m = _metrics(clients, [])
    assert m.steady_trials_per_s is None and m.cpu_s_per_trial is None and m.gpu_busy_pct is None


def test_phase_use_sums_clients(clients):
    use = {u.phase: u for u in M.phase_use(clients)}
    assert use["build"].client_s == 6 and use["build"].cpu_s == 12
    assert use["measure"].client_s == 5 * 5 and use["measure"].cpu_s == 5


def test_measure_context_counts_the_neighbours_and_reads_the_gpu(clients):
    a = clients[0]  # measures round 0 over [T0+15, T0+20]
    c = _client([TaskInfo("c", 1.0, 1)], [_round(0, "c", T0 + 18, 8, 1.0)])  # [T0+13, T0+18]
    d = _client([TaskInfo("d", 1.0, 1)], [_round(0, "d", T0 + 21, 8, 1.0)])  # [T0+16, T0+21]
    samples = [{"epoch": T0 + t, "sm_clock_mhz": 1980.0 if t < 18 else 1500.0, "gpu_power_w": 300.0}
               for t in range(15, 21)]
    ctx = {(x.client, x.round): x for x in M.measure_context([a, c, d], samples)}
    first = ctx[(0, 0)]
    assert (first.task, first.candidates, first.seconds) == ("a", 8, 5.0)
    assert first.co_measuring == pytest.approx((3 + 4) / 5) and first.co_measuring_max == 2
    assert (first.sm_clock_mhz, first.gpu_power_w) == (1740.0, 300.0)
    alone = ctx[(0, 2)]  # [T0+515, T0+520]: nobody beside it, no sample inside: the nearest one
    assert (alone.co_measuring, alone.co_measuring_max, alone.sm_clock_mhz) == (0.0, 0, 1500.0)
    assert M.measure_context([a], [])[0].gpu_power_w is None  # cpu: no GPU samples
    on_two = {(x.client, x.round): x for x in M.measure_context([a, c, d], samples, gpus=2)}
    # over two GPUs clients 0 and 2 share GPU 0; client 1 (c) measures on GPU 1 and does not count
    assert on_two[(0, 0)].co_measuring == pytest.approx(4 / 5) and on_two[(0, 0)].co_measuring_max == 1
    assert first.servers_measuring is None and first.servers_measuring_max is None  # no sessions recorded


def test_measure_context_counts_the_servers_measuring_on_its_gpu(clients):
    a = clients[0]  # measures round 0 over [T0+15, T0+20], on two servers at once, then one
    sessions = {0: [(T0 + 15, T0 + 18), (T0 + 15, T0 + 20), (T0 + 16, T0 + 17)],  # a third server joins
                1: [(T0 + 14, T0 + 21)]}  # another GPU's server does not count
    first = [x for x in M.measure_context([a], [], sessions=sessions) if x.round == 0][0]
    assert first.servers_measuring == pytest.approx((3 + 5 + 1) / 5) and first.servers_measuring_max == 3
    other = [x for x in M.measure_context([a], [], sessions={1: sessions[1]}) if x.round == 0][0]
    assert (other.servers_measuring, other.servers_measuring_max) == (0.0, 0)  # none on its GPU


def test_a_continued_timeline_keeps_its_columns(tmp_path):
    path = tmp_path / "timeline.csv"  # made before a column was added
    path.write_text("t_s,cpu_util_pct,epoch\n1.0,10.0,5.0\n")
    with Sampler(str(path), "cpu", interval_s=0.05, append=True):
        time.sleep(0.4)
    lines = path.read_text().splitlines()
    assert lines[0] == "t_s,cpu_util_pct,epoch" and len(lines) > 2
    assert all(len(line.split(",")) == 3 for line in lines) and float(lines[2].split(",")[0]) > 1.0


def test_timeline_columns_are_written_to_what_a_sample_resolves(tmp_path):
    path = tmp_path / "timeline.csv"
    with Sampler(str(path), "cpu", interval_s=0.05):
        time.sleep(0.3)
    head, *rows = [line.split(",") for line in path.read_text().splitlines()]
    row = dict(zip(head, rows[-1]))
    assert len(row["t_s"].split(".")[-1]) <= 2 and len(row["cpu_util_pct"].split(".")[-1]) <= 1
    assert len(row["epoch"].split(".")[-1]) <= 3 and row["gpu_util_pct"] == ""  # cpu: no GPU columns
