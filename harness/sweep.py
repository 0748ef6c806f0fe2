"""Entry point: `python -m harness.sweep +exp=interdependency [platform=cpu] [model=resnet18] ...`

The only Hydra-aware module: it composes the config, validates it before any work, and hands a
plain `SweepConf` to the library (harness.experiment).
"""

from __future__ import annotations

import logging
import signal
import sys

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from harness.config import ConfigError, SweepConf, validate

log = logging.getLogger("harness")

ConfigStore.instance().store(name="base_config", node=SweepConf)


def check_platform(cfg: SweepConf) -> None:
    """Fail early, with the reason, when the platform cannot run here."""
    if cfg.platform.name == "cuda":
        from harness.mps import check_gpu

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
    from tqdm import tqdm

    from harness.experiment import run_sweep

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


if __name__ == "__main__":
    main()
