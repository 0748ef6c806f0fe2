"""Every experiment composes; every bad input stops before any work with a clear message."""

import os

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from harness.config import ConfigError, ModelConf, SweepConf, TunerConf
from harness.validation import validate
from harness.sweep import to_conf  # registers the structured schema
from tests.conftest import CONF, has_gpu, sweep_cli

EXPS = sorted(f[:-5] for f in os.listdir(os.path.join(CONF, "exp")))


def compose_cfg(*overrides) -> SweepConf:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return to_conf(compose(config_name="config", overrides=list(overrides)))


@pytest.mark.parametrize("platform", ["cpu", "cuda"])
@pytest.mark.parametrize("exp", EXPS)
def test_every_experiment_composes(exp, platform):
    cfg = compose_cfg(f"+exp={exp}", f"platform={platform}")
    assert isinstance(cfg, SweepConf)
    assert cfg.platform.name == platform
    validate(cfg)


def test_cli_model_override_wins_over_experiment():
    cfg = compose_cfg("+exp=interdependency_full", "model=mobilenet_v2")
    assert cfg.model.name == "mobilenet_v2" and cfg.tuner.trials == 2000
    assert compose_cfg("+exp=interdependency", "model=resnet18").model.name == "resnet18"


@pytest.mark.parametrize("change, needle", [
    (dict(platform__name="tpu"), "platform.name='tpu'"),
    (dict(model__name="alexnet"), "model.name='alexnet'"),
    (dict(model__dtype="foo"), "model.dtype='foo'"),
    (dict(name="../x"), "name='../x'"),
    (dict(model__batch=0), "model.batch=0"),
    (dict(tuner__trials=0), "tuner.trials=0"),
    (dict(tuner__trials=-5), "tuner.trials=-5"),
    (dict(tuner__trials_per_round=0), "tuner.trials_per_round=0"),
    (dict(tuner__population=32), "tuner.init_min_unmeasured=50"),  # a round could never sample 50 new
    (dict(tuner__builder="remote"), "tuner.builder='remote'"),
    (dict(tuner__cost_model="gbdt"), "tuner.cost_model='gbdt'"),
    (dict(tune_shares=[0]), "tune_shares has 0"),
    (dict(tune_shares=[150]), "tune_shares has 150"),
    (dict(infer_shares=[-10]), "infer_shares has -10"),
    (dict(infer_shares=[]), "infer_shares is empty"),
    (dict(model__name="onnx"), "model.path"),
    (dict(model__name="onnx", model__path="/no/such/model.onnx"), "/no/such/model.onnx"),
    (dict(vendors=["torch_cudagraphs"]), "vendors=torch_cudagraphs replays CUDA graphs: platform=cuda only, not cpu"),
])
def test_bad_values_are_named(change, needle):
    cfg = SweepConf()
    for key, value in change.items():
        obj = cfg
        *path, last = key.split("__")
        for p in path:
            obj = getattr(obj, p)
        setattr(obj, last, value)
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert needle in str(e.value)


def test_unreadable_onnx(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_text("x")
    p.chmod(0)
    if os.access(p, os.R_OK):
        pytest.skip("running as a user who can read any file")
    with pytest.raises(ConfigError, match="not a readable file"):
        validate(SweepConf(model=ModelConf(name="onnx", path=str(p))))


def test_tuner_fingerprint_tracks_settings():
    from harness.config import tuner_fingerprint

    assert tuner_fingerprint(TunerConf()) == tuner_fingerprint(TunerConf())
    assert tuner_fingerprint(TunerConf()) != tuner_fingerprint(TunerConf(trials=65))


@pytest.mark.parametrize("overrides, needle", [
    (["model=alexnet"], "Could not find 'model/alexnet'"),
    (["platform=tpu"], "Could not find 'platform/tpu'"),
    (["+exp=nope"], "Could not find 'exp/nope'"),
    (["tune_shares=[0]"], "tune_shares has 0"),
    (["tuner.trials=0"], "tuner.trials=0"),
    (["tuner.trials=many"], "tuner.trials"),
    (["model=onnx", "model.path=/no/such.onnx"], "/no/such.onnx"),
    (["model=torch"], "model=torch needs model.ctor=<constructor>"),
    (["model=torch", "model.ctor=nosuchpkg.models.net"], "no package 'nosuchpkg'"),
    (["model=torch", "model.input_kind=audio"], "expected one of [image, sequence]"),
    (["model.dtype=foo"], "Invalid value 'foo', expected one of [float32, float16]"),
    (["tuner.scheduler=fifo"], "expected one of [gradient, round-robin, rolling]"),
    (["+tuner.trails=5"], "unknown key(s) tuner.trails"),
    (["name=../../../etc/x"], "name='../../../etc/x' is not allowed"),
    (["+exp=tuning_time", "slicetune.builders=[]"], "slicetune.builders is empty"),
    (["+exp=throughput", "throughput.modes=[]"], "throughput.modes is empty"),
    (["+exp=quick_scaling", "slicetune.gpus=[2]"], "slicetune.gpus=[2] is not allowed on platform=cpu"),
    (["+exp=fidelity", "slicetune.verify_top_k=0"], "slicetune.verify_top_k=0 is not allowed with +exp=fidelity"),
    (["results_dir=/etc/hostname"], "results_dir='/etc/hostname' is not allowed: it is a file"),
])
def test_cli_rejects_bad_input_before_any_work(dirs, overrides, needle):
    results, runs = dirs
    exp = [] if any(o.startswith("+exp") for o in overrides) else ["+exp=smoke"]
    given = [o for o in overrides if o.startswith("results_dir=")] or [f"results_dir={results}"]
    r = sweep_cli(*exp, *[o for o in overrides if not o.startswith("results_dir=")], *given, f"runs_dir={runs}")
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr + r.stdout
    assert not results.exists()  # (Hydra has opened its log under runs/)


def test_no_experiment_lists_them(dirs):
    r = sweep_cli("platform=cpu")
    assert r.returncode == 2 and "add +exp=NAME, one of: fidelity, interdependency," in r.stderr


@pytest.mark.parametrize("content, needle", [(b"", "it has no graph"), (b"\x08\x07not onnx", "not a valid ONNX model")])
def test_files_that_are_not_onnx_are_refused_up_front(dirs, tmp_path, content, needle):
    results, runs = dirs
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    r = sweep_cli("+exp=smoke", "model=onnx", f"model.path={bad}", f"results_dir={results}", f"runs_dir={runs}",
                  timeout=120)
    assert r.returncode == 2 and str(bad) in r.stderr and (needle in r.stderr or "not a valid" in r.stderr), r.stderr
    assert not results.exists()


def test_a_malformed_result_file_is_named_and_left_untouched(dirs):
    results, runs = dirs
    target = results / "cpu" / "smoke" / "tuning.csv"
    target.parent.mkdir(parents=True)
    target.write_text("a,b\n1,2\n")
    r = sweep_cli("+exp=smoke", f"results_dir={results}", f"runs_dir={runs}")
    assert r.returncode == 2 and f"{target} has no cell_id column" in r.stderr
    assert target.read_text() == "a,b\n1,2\n"


@pytest.mark.skipif(has_gpu(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_refused(dirs):
    results, runs = dirs
    r = sweep_cli("+exp=smoke", "platform=cuda", f"results_dir={results}", f"runs_dir={runs}")
    assert r.returncode == 2
    assert "platform=cuda needs" in r.stderr
    assert not results.exists()


def test_structured_config_rejects_unknown_keys():
    with pytest.raises(Exception, match="nosuchkey"):
        compose_cfg("+exp=smoke", "tuner.nosuchkey=1")


def test_plain_python_without_hydra():
    cfg = SweepConf(model=ModelConf(name="resnet18"), tune_shares=[25, 100])
    validate(cfg)
    assert OmegaConf.structured(cfg).model.name == "resnet18"
