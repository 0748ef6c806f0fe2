import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "conf")


def has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return "GPU" in out.stdout


def sweep_cli(*overrides: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.sweep", *overrides], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def dirs(tmp_path):
    """results_dir/runs_dir overrides pointing into a temporary directory."""
    return tmp_path / "results", tmp_path / "runs"
