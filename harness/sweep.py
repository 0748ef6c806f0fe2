"""Entry point: `python -m harness.sweep +exp=interdependency [platform=cpu] [model=resnet18] ...`

The only Hydra-aware module: it composes the config, validates it before any work, and hands a
plain `SweepConf` to the library (harness.experiments).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from tqdm import tqdm

from harness import results as R
from harness.config import ConfigError, Experiment, SweepConf
from harness.experiments import Summary, run_sweep
from harness.experiments.preflight import preflight

log = logging.getLogger("harness")

_composed = False  # Hydra composed the config and main() began
CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")


@dataclass
class CliConf(SweepConf):
    """On the command line the experiment is chosen by an `+exp=` file, never by default."""

    experiment: Experiment = MISSING


ConfigStore.instance().store(name="base_config", node=CliConf)


def experiment_files() -> list[str]:
    """The names `+exp=` takes (conf/exp/*.yaml)."""
    return sorted(f[:-5] for f in os.listdir(os.path.join(CONF_DIR, "exp")) if f.endswith(".yaml"))


def unknown_keys(node, prefix: str = "") -> list[str]:
    """Keys of a composed config that no field of its record has (`+tuner.trails=5` would
    otherwise be dropped without a word)."""
    cls = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(cls):
        return []
    fields = {f.name for f in dataclasses.fields(cls)}
    out = [prefix + k for k in node.keys() if k not in fields]
    for k in node.keys():
        if k in fields and OmegaConf.is_dict(node._get_node(k)):
            out += unknown_keys(node[k], f"{prefix}{k}.")
    return out


def report(cfg: SweepConf, summary: Summary) -> int:
    """What the sweep did, on the console; non-zero when a cell failed."""
    print(f"slicetune: {len(summary.ran)} cells run, {len(summary.skipped)} already done")
    if summary.paused:
        print(f"slicetune: {len(summary.paused)} cell(s) stopped at tune_deadline_s={cfg.tune_deadline_s:g} or not "
              "started before it; run the same command again (without rerun=true) to continue them")
    if summary.busy:
        print(f"slicetune: {len(summary.busy)} cell(s) skipped: another sweep was working on them")
    print(f"  results: {summary.out_dir}/")
    print(f"  tuning databases, compiled models and logs: {summary.run_dir}/")
    print(f"  figures: python -m analysis {cfg.results_dir}/{cfg.platform.name}")
    if summary.failed:
        print(f"slicetune: {len(summary.failed)} cell(s) failed (also in {summary.out_dir}/{R.FAILURES}):",
              file=sys.stderr)
        for cell, why in summary.failed.items():
            print(f"  {cell}: {why}", file=sys.stderr)
        return 1
    return 0


def to_conf(dcfg: DictConfig) -> SweepConf:
    return OmegaConf.to_object(dcfg)


def _sigterm(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def run(cfg: SweepConf) -> int:
    try:
        preflight(cfg)
    except ConfigError as e:
        print(f"slicetune: {e}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        with tqdm(total=0, unit="cell", dynamic_ncols=True) as bar:
            summary = run_sweep(cfg, bar)
    except KeyboardInterrupt:
        print("slicetune: interrupted; completed cells are saved, run the same command to resume",
              file=sys.stderr)
        return 130
    return report(cfg, summary)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(dcfg: DictConfig) -> None:
    global _composed
    _composed = True
    extra = unknown_keys(dcfg)
    if extra:
        print(f"slicetune: unknown key(s) {', '.join(extra)}; `python -m harness.sweep +exp=smoke --cfg job` lists "
              "every key", file=sys.stderr)
        sys.exit(2)
    try:
        cfg = to_conf(dcfg)
    except Exception as e:  # noqa: BLE001 - omegaconf's validation errors name the key
        print(f"slicetune: {e}", file=sys.stderr)
        sys.exit(2)
    code = run(cfg)
    if code:
        sys.exit(code)


def _names_experiment(argv: list[str]) -> bool:
    """An `+exp=` override, or a Hydra flag that runs nothing (--help, --cfg, ...)."""
    return any(a.split("=", 1)[0].lstrip("+") == "exp" or a.startswith("-") for a in argv)


if __name__ == "__main__":
    if not _names_experiment(sys.argv[1:]):
        print(f"slicetune: no experiment chosen; add +exp=NAME, one of: {', '.join(experiment_files())}",
              file=sys.stderr)
        sys.exit(2)
    try:
        main()
    except SystemExit as e:  # Hydra exits 1 when it cannot compose the config: a bad input, like ours
        sys.exit(2 if e.code == 1 and not _composed else e.code)
