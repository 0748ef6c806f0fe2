"""What a tuning run's records say beyond its wall time: start-up, steady-state rate, CPU and GPU
use, and the estimated model latency against time (to read off time to quality).

Pure functions of the clients' rounds and spans (harness.jobs), the cell's segment windows and
the utilisation samples (harness.device.monitor); times are seconds of the cell's own clock, which
runs only while a segment is under way.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

from harness.jobs import TuneResult


class Clock:
    """Epoch -> seconds of the cell's clock, given its segments' [start, end] epochs."""

    def __init__(self, windows: list[list[float]]):
        self.windows = sorted(windows)

    def __call__(self, epoch: float) -> float:
        off = 0.0
        for start, end in self.windows:
            if epoch <= end:
                return off + max(0.0, epoch - start)
            off += end - start
        return off


@dataclass
class CurvePoint:
    t_s: float  # cell clock
    trials_done: int  # every client's, so far
    est_model_ms: float  # sum over tasks of weight x best latency so far (every task measured)


@dataclass
class RunMetrics:
    startup_s: float | None  # the first segment's start -> the first candidates sent to be measured
    steady_trials_per_s: float | None  # trials sent after every client sent its first / the time to the last round
    cpu_s_per_trial: float | None  # host CPU-s while tuning (all processes) / trials
    gpu_busy_pct: float | None  # NVML utilisation, mean over the steady state (else the whole tuning)
    est_final_ms: float | None  # the curve's last point


def curve(clients: list[TuneResult], clock: Clock) -> list[CurvePoint]:
    """The model's estimated latency each time a round ends, from the clients' rounds merged in
    time order (points start once every task has a valid measurement)."""
    weights = {t.name: t.weight for c in clients for t in c.tasks}
    rounds = sorted((clock(r.at), r) for c in clients for r in c.rounds if r.at is not None)
    best: dict[str, float] = {}
    trials, out = 0, []
    for t, r in rounds:
        trials += r.candidates
        if r.round_best_ms is not None:
            best[r.task] = min(r.round_best_ms, best.get(r.task, float("inf")))
        if len(best) == len(weights):
            out.append(CurvePoint(round(t, 3), trials, sum(w * best[n] for n, w in weights.items())))
    return out


def read_samples(path: str) -> list[dict[str, float]]:
    """A timeline file's samples (empty cells dropped); none when there is no file."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def _sent(c: TuneResult) -> dict[int, float]:
    """round -> epoch its candidates went to the runner (built, ready to measure)."""
    return {s.round: s.start for s in c.spans if s.phase == "measure"}


def metrics(clients: list[TuneResult], clock: Clock, samples: list[dict[str, float]],
            pts: list[CurvePoint]) -> RunMetrics:
    """The run's metrics, given its clock, utilisation samples and `curve(clients, clock)`."""
    trials = sum(c.trials_done for c in clients)
    sent = [_sent(c) for c in clients]
    firsts = [min(s.values()) for s in sent if s]
    startup = clock(min(firsts)) if firsts else None
    # steady state: once every client has sent its first candidates (a scheduler may collect
    # results late, so a round counts from when it was sent)
    t1 = clock(max(firsts)) if firsts else None
    ends = [r.at for c in clients for r in c.rounds if r.at is not None]
    t_end = clock(max(ends)) if ends else None
    steady = None
    if t1 is not None and t_end is not None and t_end > t1:
        after = sum(r.candidates for c, s in zip(clients, sent) for r in c.rounds
                    if r.round in s and clock(s[r.round]) > t1)
        steady = after / (t_end - t1) if after else None
    timed = [(clock(s["epoch"]), s) for s in samples if "epoch" in s]
    tuning = [(t, s) for t, s in timed if t_end is None or t <= t_end]
    cpu = None
    if trials and tuning and all("cpu_busy_cores" in s for _, s in tuning):
        ts = [t for t, _ in tuning]
        dts = [ts[0]] + [b - a for a, b in zip(ts, ts[1:])]
        cpu = sum(dt * s["cpu_busy_cores"] for dt, (_, s) in zip(dts, tuning)) / trials
    window = [s for t, s in tuning if steady is not None and t >= t1] or [s for _, s in tuning]
    gpu = [s["gpu_util_pct"] for s in window if "gpu_util_pct" in s]
    return RunMetrics(
        None if startup is None else round(startup, 2), None if steady is None else round(steady, 4),
        None if cpu is None else round(cpu, 3), round(sum(gpu) / len(gpu), 1) if gpu else None,
        pts[-1].est_model_ms if pts else None)


@dataclass
class PhaseUse:
    phase: str
    client_s: float  # summed over clients (they overlap in time)
    cpu_s: float | None  # the clients' processes and their builder workers (not the servers)


def phase_use(clients: list[TuneResult]) -> list[PhaseUse]:
    out: dict[str, PhaseUse] = {}
    for c in clients:
        for s in c.spans:
            u = out.setdefault(s.phase, PhaseUse(s.phase, 0.0, 0.0))
            u.client_s += s.end - s.start
            u.cpu_s = None if u.cpu_s is None or s.cpu_s is None else u.cpu_s + s.cpu_s
    return [PhaseUse(u.phase, round(u.client_s, 3), None if u.cpu_s is None else round(u.cpu_s, 3))
            for u in out.values()]


@dataclass
class TaskConvergence:
    task: str
    trials: int
    best_ms: float | None  # best measured
    gain_pct: float | None  # how much the best improved over the last quarter of its trials
    converged: bool  # gain_pct < the threshold (False where it cannot tell)


MIN_ROUNDS = 4  # fewer rounds of a task cannot show it settled (its last quarter is not a round)


def convergence(rounds: list, task: str, threshold_pct: float) -> TaskConvergence:
    """From a run's rounds (harness.jobs.RoundRecord): whether `task`'s search has settled: its best
    improved under `threshold_pct` over the last quarter of its trials, in at least MIN_ROUNDS rounds."""
    mine = [r for r in rounds if r.task == task]
    trials, curve = 0, []  # (trials so far, best so far)
    best = None
    for r in mine:
        trials += r.candidates
        if r.round_best_ms is not None:
            best = r.round_best_ms if best is None else min(best, r.round_best_ms)
        curve.append((trials, best))
    if best is None:
        return TaskConvergence(task, trials, None, None, False)
    at = [b for t, b in curve if t <= 0.75 * trials and b is not None]
    if not at:  # no measurement before the last quarter: cannot tell
        return TaskConvergence(task, trials, best, None, False)
    gain = 100 * (at[-1] - best) / at[-1]
    return TaskConvergence(task, trials, best, round(gain, 3), gain < threshold_pct and len(mine) >= MIN_ROUNDS)


@dataclass
class MeasureContext:
    """One client's measured round and what was around it: the other clients measuring on the
    same GPU at that time, the servers of that GPU serving a measurement (the round's own included:
    a client measures a round on up to all of them at once), and the GPU's SM clock and power (NVML
    samples) while it ran."""

    client: int
    round: int
    task: str
    candidates: int
    start: float  # epoch
    seconds: float
    co_measuring: float  # other clients measuring meanwhile, on average over the span
    co_measuring_max: int  # the most at once
    sm_clock_mhz: float | None  # mean of the samples within the span (the nearest one if none)
    gpu_power_w: float | None
    servers_measuring: float | None = None  # servers in a measurement session, on average over the span
    servers_measuring_max: int | None = None  # the most at once (None: no sessions recorded)


def _around(samples: list[dict[str, float]], start: float, end: float, key: str) -> float | None:
    have = [s for s in samples if key in s and "epoch" in s]
    inside = [s[key] for s in have if start <= s["epoch"] <= end]
    if not inside and have:
        inside = [min(have, key=lambda s: abs(s["epoch"] - (start + end) / 2))[key]]
    return round(sum(inside) / len(inside), 1) if inside else None


def overlap(spans: list[tuple[float, float]], start: float, end: float) -> tuple[float, int]:
    """How many of `spans` run within [start, end]: on average over it, and the most at once."""
    inside = [(b, e) for b, e in spans if b < end and e > start]
    mean = sum(min(e, end) - max(b, start) for b, e in inside) / max(end - start, 1e-9)
    peak = max((sum(b <= t < e for b, e in inside) for t in [start, *(b for b, _ in inside if b > start)]),
               default=0)
    return round(mean, 3), peak


def read_sessions(path: str) -> dict[int, list[tuple[float, float]]]:
    """A cell's servers' measurement sessions (harness.layout.SESSIONS) per device; {} without the file."""
    out: dict[int, list[tuple[float, float]]] = {}
    if os.path.exists(path):
        with open(path) as f:
            for device, start, end in csv.reader(f):
                out.setdefault(int(device or 0), []).append((float(start), float(end)))
    return out


def measure_context(clients: list[TuneResult], samples: list[dict[str, float]], gpus: int = 1,
                    sessions: dict[int, list[tuple[float, float]]] | None = None) -> list[MeasureContext]:
    """Every client's measure spans with their context (rounds are measured as one batch, so the
    context is a round's, not a candidate's). Over `gpus` GPUs client i measures on GPU i % gpus
    (the pool's keys, one per GPU, taken in turn); clock and power are then the GPUs' as one.
    `sessions` (read_sessions): the servers' sessions per device; none recorded, no server counts."""
    spans = [(i, s) for i, c in enumerate(clients) for s in c.spans if s.phase == "measure"]
    out = []
    for i, s in spans:
        mean, peak = overlap([(o.start, o.end) for j, o in spans if j != i and j % gpus == i % gpus], s.start, s.end)
        busy = overlap(sessions.get(i % gpus, []), s.start, s.end) if sessions else (None, None)
        r = next((r for r in clients[i].rounds if r.round == s.round), None)
        out.append(MeasureContext(i, s.round, r.task if r else "", r.candidates if r else 0, s.start,
                                  round(s.end - s.start, 3), mean, peak,
                                  _around(samples, s.start, s.end, "sm_clock_mhz"),
                                  _around(samples, s.start, s.end, "gpu_power_w"), *busy))
    return out
