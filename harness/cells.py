"""Config -> cells: every unit of work of a sweep, each with a stable id for resuming.

The ids are part of the committed results (`cell_id` columns): changing how one is made
orphans those rows, so tests pin a few (tests/test_cells.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

from harness.config import Builder, Mode, ModelConf, Scale, Split, SweepConf, TunerConf, tuner_fingerprint
from harness.jobs import Share
from harness.layout import Step


def model_stem(m: ModelConf) -> str:
    """A model's part of a cell id: label, batch, size, dtype (an ONNX file: its content too)."""
    stem = f"{m.label}-b{m.batch}" + (f"-s{m.input_size}" if m.input_size else "")
    if m.name == "torch":  # the whole constructor, not only its last name
        stem += f"-{m.input_kind}" if m.input_kind is not None else ""
        stem += "-" + hashlib.sha1((m.ctor or "").encode()).hexdigest()[:6]
    if m.dtype != "float32":
        stem += f"-{m.dtype}"
    if m.name == "onnx":  # the file's content, not its path
        with open(m.path or "", "rb") as f:
            stem += "-" + hashlib.sha1(f.read()).hexdigest()[:6]
    return stem


def dirs(cfg: SweepConf) -> tuple[str, str]:
    """(results/<platform>/<name>, runs/<platform>/<name>)"""
    return (os.path.join(cfg.results_dir, cfg.platform.name, cfg.dir_name),
            os.path.join(cfg.runs_dir, cfg.platform.name, cfg.dir_name))


def tasks_step(cfg: SweepConf) -> Step:
    """Where a model's task list is cached (one per model, for every cell of the sweep)."""
    return Step(dirs(cfg)[1], f"{model_stem(cfg.model)}.tasks")


# -- interdependency: tune at each share, infer each tuned model at each share


@dataclass(frozen=True)
class TuneCell:
    id: str
    share: Share
    work_dir: str


@dataclass(frozen=True)
class InferCell:
    id: str
    tune: TuneCell | None  # None: the untuned reference
    share: Share


@dataclass(frozen=True)
class VendorCell:
    id: str
    vendor: str  # harness.config.Vendor
    share: Share


@dataclass
class Plan:
    out_dir: str  # results/<platform>/<exp>
    run_dir: str  # runs/<platform>/<exp>: databases, artefacts, worker logs
    tune: list[TuneCell]
    untuned: TuneCell | None
    infer: list[InferCell]
    vendor: list[VendorCell] = field(default_factory=list)


def _fp(obj) -> str:
    return hashlib.sha1(json.dumps(asdict(obj), sort_keys=True).encode()).hexdigest()[:6]


def plan(cfg: SweepConf) -> Plan:
    platform = cfg.platform.name
    out_dir, run_dir = dirs(cfg)
    stem = model_stem(cfg.model)
    tfp = tuner_fingerprint(cfg.tuner)
    tune = []
    for pct in dict.fromkeys(float(s) for s in cfg.tune_shares):
        cid = f"{stem}-{tfp}-tune{pct:g}"
        tune.append(TuneCell(cid, Share(platform, pct), os.path.join(run_dir, cid)))
    untuned = None
    if cfg.untuned:
        cid = f"{stem}-untuned"
        untuned = TuneCell(cid, Share(platform, 100.0), os.path.join(run_dir, cid))
    ifp = _fp(cfg.infer)
    infer = []
    for tc in [*tune, *([untuned] if untuned else [])]:
        for pct in dict.fromkeys(float(s) for s in cfg.infer_shares):
            ref = None if tc is untuned else tc
            infer.append(InferCell(f"{tc.id}@infer{pct:g}-{ifp}", ref, Share(platform, pct)))
    vendor = [VendorCell(f"{stem}-{v}@infer{pct:g}-{ifp}", str(v), Share(platform, pct))
              for v in dict.fromkeys(cfg.vendors) for pct in dict.fromkeys(float(s) for s in cfg.infer_shares)]
    return Plan(out_dir, run_dir, tune, untuned, infer, vendor)


# -- comparisons (tuning_time, scaling, throughput): one cell per configuration


@dataclass(frozen=True)
class Cell:
    id: str
    work_dir: str
    tuner: TunerConf = field(compare=False)


def cell(run_dir: str, stem: str, tuner: TunerConf, label: str) -> Cell:
    cid = f"{stem}-{tuner_fingerprint(tuner)}-{label}"
    return Cell(cid, os.path.join(run_dir, cid), tuner)


@dataclass(frozen=True)
class GridPoint:
    """One configuration of the tuning-time grid."""

    mode: Mode
    builder: Builder
    clients: int = 1
    servers: int = 0  # per GPU
    server_share: float = 100.0
    gpus: int = 1
    split: Split = Split.lpt  # how the clients share the tasks
    shared: bool = False  # queue: the clients' cost models learn from each other's measurements
    hold: int = 1  # queue: tasks a client tunes in turn
    scale: Scale = Scale.strong  # weak: the trial budget is per GPU (one GPU: always strong)
    verify: int = 0  # top-k candidates per task measured again alone (slicetune.verify_top_k)
    top: int = 0  # only the N costliest tasks tuned (slicetune.top_tasks; 0: all)

    @property
    def label(self) -> str:
        top = f"-t{self.top}" if self.top else ""
        if self.mode == "baseline":
            return f"baseline-{self.builder}{top}"
        g = f"-g{self.gpus}" if self.gpus > 1 else ""
        g += "-weak" if self.scale == Scale.weak else ""
        how = "" if self.split == Split.lpt else f"-{self.split}"  # lpt came first: its cells kept their ids
        how += f"-h{self.hold}" if self.split == Split.queue and self.hold != 1 else ""  # one at a time came first
        how += "-shared" if self.shared else ""
        how += f"-v{self.verify}" if self.verify else ""
        return f"k{self.clients}-s{self.servers}-p{self.server_share:g}{g}-{self.builder}{how}{top}"


def grid(cfg: SweepConf) -> list[GridPoint]:
    """The baselines (one per builder), then every Slice-Tune point, without repeats."""
    st = cfg.slicetune
    out = [GridPoint(Mode.baseline, b, top=st.top_tasks) for b in st.builders] if st.baseline else []
    for g in st.gpus:
        for k in st.clients:
            for s in st.servers:
                for p in st.server_shares:
                    for b in st.builders:
                        for sc in st.scale:
                            queue = st.split == Split.queue
                            out.append(GridPoint(Mode.slicetune, b, k * g if st.clients_per_gpu else k, s,
                                                 round(p or 100.0 / s, 2), g, st.split, st.shared_cost_model and queue,
                                                 st.hold if queue else 1, sc if g > 1 else Scale.strong,
                                                 st.verify_top_k, st.top_tasks))
    return list(dict.fromkeys(out))


def budget(tuner: TunerConf, p: GridPoint) -> TunerConf:
    """The tuner of a grid point: its builder; under weak scaling, trials and per-task cap x GPUs."""
    tuner = dataclasses.replace(tuner, builder=p.builder)
    if p.scale != Scale.weak:
        return tuner
    cap = tuner.max_trials_per_task
    return dataclasses.replace(tuner, trials=tuner.trials * p.gpus, max_trials_per_task=cap and cap * p.gpus)


def grid_cells(cfg: SweepConf, points: list[GridPoint]) -> dict[Cell, GridPoint]:
    run_dir, stem = dirs(cfg)[1], model_stem(cfg.model)
    return {cell(run_dir, stem, budget(cfg.tuner, p), p.label): p for p in points}


# -- op_interdependency: per tune share, the top tasks tuned; per inference share, every kernel measured


@dataclass(frozen=True)
class OpCells:
    tune: list[TuneCell]  # one per tune share: the top tasks, tuned one after another on its server
    infer: list[tuple[str, Share]]  # (id, share): every tuned kernel measured at that share


def op_cells(cfg: SweepConf) -> OpCells:
    run_dir, platform = dirs(cfg)[1], cfg.platform.name
    stem = f"{model_stem(cfg.model)}-ops{cfg.ops.top}x{cfg.ops.trials}-{tuner_fingerprint(cfg.tuner)}"
    tune = [TuneCell(f"{stem}-tune{p:g}", Share(platform, p), os.path.join(run_dir, f"{stem}-tune{p:g}"))
            for p in dict.fromkeys(float(s) for s in cfg.tune_shares)]
    ifp = _fp(cfg.infer)
    infer = [(f"{stem}-infer{p:g}-{ifp}", Share(platform, p))
             for p in dict.fromkeys(float(s) for s in cfg.infer_shares)]
    return OpCells(tune, infer)


def throughput_cells(cfg: SweepConf, models: list[ModelConf]) -> dict[Cell, Mode]:
    run_dir, stem = dirs(cfg)[1], "+".join(model_stem(m) for m in models)
    return {cell(run_dir, stem, cfg.tuner, mode): mode for mode in dict.fromkeys(cfg.throughput.modes)}
