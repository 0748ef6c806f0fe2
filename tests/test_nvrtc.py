"""The precompiled CUDA headers of our builder workers (harness.worker.nvrtc): set only where
NVRTC takes them, never over the user's own options or an nvcc build."""

import importlib.util
import os

from harness.worker.nvrtc import ENV, OPTIONS, precompile_headers


def test_headers_are_precompiled_only_where_nvrtc_takes_the_options(monkeypatch):
    monkeypatch.setenv(ENV, "")  # so that the test's end restores it, whatever the probe sets
    monkeypatch.delenv(ENV)
    monkeypatch.delenv("TVM_CUDA_COMPILE_MODE", raising=False)
    ok = precompile_headers("sm_90")
    assert os.environ.get(ENV) == (OPTIONS if ok else None)
    if importlib.util.find_spec("cuda") is None:  # no cuda-bindings here (CI): TVM's own build, untouched
        assert not ok


def test_the_users_options_and_nvcc_builds_are_left_alone(monkeypatch):
    monkeypatch.setenv(ENV, "")  # set, even empty: off
    assert not precompile_headers("sm_90") and os.environ[ENV] == ""
    monkeypatch.delenv(ENV)
    monkeypatch.setenv("TVM_CUDA_COMPILE_MODE", "nvcc")
    assert not precompile_headers("sm_90") and ENV not in os.environ
