"""Cell identities: what changes a result changes its cell id; committed ids stay."""

import os

import pytest

from harness.cells import plan
from harness.config import ModelConf, SweepConf, TunerConf
from tests.conftest import ROOT


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


def test_vendor_cells_one_per_vendor_and_inference_share_without_changing_the_others():
    base = SweepConf(model=ModelConf(name="resnet50"), tune_shares=[50], infer_shares=[25, 100])
    with_vendors = SweepConf(model=ModelConf(name="resnet50"), tune_shares=[50], infer_shares=[25, 100],
                             vendors=["torch_eager", "torch_compile"])
    assert ids(base) == ids(with_vendors) and not plan(base).vendor
    v = plan(with_vendors).vendor
    assert [(c.vendor, c.share.pct) for c in v] == [("torch_eager", 25), ("torch_eager", 100),
                                                    ("torch_compile", 25), ("torch_compile", 100)]
    assert v[0].id.startswith("resnet50-b1-torch_eager@infer25-")


def test_onnx_cells_follow_file_name_and_content(tmp_path):
    (tmp_path / "x").mkdir()
    a, b, c = tmp_path / "a.onnx", tmp_path / "x" / "a.onnx", tmp_path / "c.onnx"
    for f in (a, b, c):
        f.write_bytes(b"same")
    one = ids(SweepConf(model=ModelConf(name="onnx", path=str(a))))
    assert one == ids(SweepConf(model=ModelConf(name="onnx", path=str(b))))  # moved: the same model
    assert all(i.startswith("onnx.a-b1-") for i in one)
    assert all(i.startswith("onnx.c-b1-") for i in ids(SweepConf(model=ModelConf(name="onnx", path=str(c)))))
    b.write_bytes(b"changed")
    assert one != ids(SweepConf(model=ModelConf(name="onnx", path=str(b))))


# -- the committed results keep their cell ids (a resumed sweep finds them; figures group by them)

COMMITTED = [  # (results dir, the overrides that made its rows, exp file)
    ("cpu/interdependency", ["+exp=interdependency"]),
    ("cpu/tuning_time", ["+exp=quick_tuning_time", "tuner.trials=64", "tuner.max_trials_per_task=null",
                         "slicetune.servers=[1,2]", "slicetune.split=lpt"]),
    ("cpu/throughput", ["+exp=quick_throughput", "tuner.trials=32"]),
    ("cpu/scaling", ["+exp=quick_scaling", "slicetune.split=lpt"]),
    ("h100/cuda/interdependency", ["+exp=interdependency", "platform=cuda", "model=bert_base",
                                   "tune_shares=[10,25,50,75,100]", "infer_shares=[10,25,50,75,100]",
                                   "tuner.trials=896", "tuner.max_trials_per_task=64", "tuner.trials_per_round=16",
                                   "tuner.population=64", "tuner.genetic_iters=1", "tuner.init_min_unmeasured=6",
                                   "tuner.scheduler=rolling", "vendors=[torch_eager,torch_compile,torch_cudagraphs]"]),
    ("h100/cuda/tuning_time", ["+exp=tuning_time", "platform=cuda", "model=bert_base", "tuner.trials=896",
                               "tuner.max_trials_per_task=64", "tuner.population=64", "tuner.genetic_iters=1",
                               "tuner.init_min_unmeasured=6", "tuner.scheduler=rolling", "slicetune.servers=[1,2,4]",
                               "slicetune.clients=[4]", "slicetune.builders=[persistent]", "slicetune.verify_top_k=0"]),
]


@pytest.mark.parametrize("where, overrides", COMMITTED)
def test_committed_results_keep_their_cell_ids(where, overrides):
    from harness import results as R
    from harness.cells import grid, grid_cells, throughput_cells
    from tests.test_config import compose_cfg

    cfg = compose_cfg(*overrides)
    if cfg.experiment == "interdependency":
        p = plan(cfg)
        ids, files = [c.id for c in p.tune] + [c.id for c in p.infer], [R.TUNING, R.INFERENCE]
    elif cfg.experiment == "throughput":
        ids, files = [c.id for c in throughput_cells(cfg, [ModelConf(name=m) for m in cfg.throughput.models])], [R.THROUGHPUT]
    else:
        ids, files = [c.id for c in grid_cells(cfg, grid(cfg))], [R.TUNING_TIME]
    committed = set().union(*(R.done_cells(os.path.join(ROOT, "results", where, f)) for f in files))
    found = set(ids) & committed
    assert found, f"none of {sorted(ids)[:4]}... is in results/{where}"
    if where.startswith("cpu"):  # made by exactly these profiles
        assert committed <= set(ids), sorted(committed - set(ids))
