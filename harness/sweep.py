"""Entry point: `python -m harness.sweep +exp=interdependency [platform=cpu] [model=resnet18] ...`

The only Hydra-aware module: it composes the config, validates it before any work, and hands a
plain `SweepConf` to the library (harness.experiments).
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from tqdm import tqdm

from harness.config import ConfigError, Experiment, SweepConf, validate
from harness.device.gpu import check_gpu
from harness.experiments import run_sweep

log = logging.getLogger("harness")

CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")


@dataclass
class CliConf(SweepConf):
    """On the command line the experiment is chosen by an `+exp=` file, never by default."""

    experiment: Experiment = MISSING


ConfigStore.instance().store(name="base_config", node=CliConf)


def experiment_files() -> list[str]:
    """The names `+exp=` takes (conf/exp/*.yaml)."""
    return sorted(f[:-5] for f in os.listdir(os.path.join(CONF_DIR, "exp")) if f.endswith(".yaml"))


def check_platform(cfg: SweepConf) -> None:
    """Fail early, with the reason, when the platform cannot run here."""
    if cfg.platform.name == "cuda":
        check_gpu(cfg.platform.device_id)


def to_conf(dcfg: DictConfig) -> SweepConf:
    return OmegaConf.to_object(dcfg)


def _sigterm(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def run(cfg: SweepConf) -> int:
    try:
        validate(cfg)
        check_platform(cfg)
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
    print(f"slicetune: {len(summary.ran)} cells run, {len(summary.skipped)} already done")
    if summary.paused:
        print(f"slicetune: {len(summary.paused)} tuning run(s) stopped at tune_deadline_s={cfg.tune_deadline_s:g}; "
              "run the same command again (without rerun=true) to continue them")
    print(f"  results: {summary.out_dir}/")
    print(f"  tuning databases, compiled models and logs: {summary.run_dir}/")
    print(f"  figures: python -m analysis {cfg.results_dir}/{cfg.platform.name}")
    return 0


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(dcfg: DictConfig) -> None:
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
    main()
