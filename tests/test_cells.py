"""Cell identities: what changes a result changes its cell id."""

from harness.cells import plan
from harness.config import ModelConf, SweepConf, TunerConf


def ids(cfg):
    p = plan(cfg)
    return [c.id for c in p.tune] + [c.id for c in p.infer]


def test_ids_track_model_tuner_and_shares():
    base = SweepConf(tune_shares=[50, 100], infer_shares=[25])
    assert ids(base) == ids(SweepConf(tune_shares=[50, 100], infer_shares=[25]))
    for other in (SweepConf(tune_shares=[50, 100], infer_shares=[25], model=ModelConf(dtype="float16")),
                  SweepConf(tune_shares=[50, 100], infer_shares=[25], model=ModelConf(batch=4)),
                  SweepConf(tune_shares=[50, 100], infer_shares=[25], tuner=TunerConf(trials=65))):
        assert not set(ids(base)[:2]) & set(ids(other)[:2])
    assert len(plan(base).infer) == 3  # two tuned models and the untuned one, at 25%


def test_onnx_cells_follow_file_content(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    one = ids(SweepConf(model=ModelConf(name="onnx", path=str(a))))
    assert one == ids(SweepConf(model=ModelConf(name="onnx", path=str(b))))
    b.write_bytes(b"changed")
    assert one != ids(SweepConf(model=ModelConf(name="onnx", path=str(b))))
