"""Config -> cells: the units of work of a sweep, each with a stable id for resuming."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass

from harness.config import ModelConf, SweepConf, tuner_fingerprint
from harness.share import Share


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


@dataclass
class Plan:
    out_dir: str  # results/<platform>/<exp>
    run_dir: str  # runs/<platform>/<exp>: databases, artefacts, worker logs
    tune: list[TuneCell]
    untuned: TuneCell | None
    infer: list[InferCell]


def _fp(obj) -> str:
    return hashlib.sha1(json.dumps(asdict(obj), sort_keys=True).encode()).hexdigest()[:6]


def model_stem(m: ModelConf) -> str:
    """A model's part of a cell id: name, batch, size, dtype (an ONNX file: its content)."""
    stem = f"{m.name}-b{m.batch}" + (f"-s{m.input_size}" if m.input_size else "")
    if m.dtype != "float32":
        stem += f"-{m.dtype}"
    if m.name == "onnx":  # the file's content, not its path
        with open(m.path or "", "rb") as f:
            stem += "-" + hashlib.sha1(f.read()).hexdigest()[:6]
    return stem


def dirs(cfg: SweepConf) -> tuple[str, str]:
    """(results/<platform>/<experiment>, runs/<platform>/<experiment>)"""
    return (os.path.join(cfg.results_dir, cfg.platform.name, cfg.experiment),
            os.path.join(cfg.runs_dir, cfg.platform.name, cfg.experiment))


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
    return Plan(out_dir, run_dir, tune, untuned, infer)
