"""The zoo builds and yields tuning tasks; a user's ONNX file works too."""

import pytest

from harness.config import ConfigError, ModelConf
from harness.worker.models import load
from harness.worker.target import make_target
from harness.worker.tasks import extract
from harness.zoo import ZOO

# tasks and GFLOPs (2 x MACs, batch 1) of the zoo at default sizes, on the LLVM target
EXPECTED = {
    "tiny_mlp": (2, 0.0), "tiny_cnn": (7, 0.003), "resnet18": (26, 3.64), "resnet50": (38, 8.21),
    "mobilenet_v2": (46, 0.62), "vgg16": (22, 30.97), "bert_base": (14, 22.42),
}


@pytest.fixture(scope="module")
def target():
    return make_target("cpu", 2)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_zoo_model_tasks(name, target):
    m = load(ModelConf(name=name))
    tasks, infos = extract(m.mod, target)
    n, gflop = EXPECTED[name]
    assert len(tasks) == len(infos) == n
    assert sum(i.flops * i.weight for i in infos) / 1e9 == pytest.approx(gflop, abs=0.01)
    assert m.args[0].shape[0] == 1


def test_batch_and_input_size(target):
    m = load(ModelConf(name="tiny_cnn", batch=4, input_size=16))
    assert m.args[0].shape == [4, 3, 16, 16]
    assert load(ModelConf(name="bert_base")).args[0].dtype == "int32"


def test_every_zoo_entry_has_a_config():
    import os

    from tests.conftest import CONF

    assert set(ZOO) == {f[:-5] for f in os.listdir(os.path.join(CONF, "model"))}


def _tiny_onnx(path):
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.rand(16, 8).astype("float32"), "w")
    b = numpy_helper.from_array(np.random.rand(8).astype("float32"), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_onnx_model(tmp_path, target):
    path = str(tmp_path / "tiny.onnx")
    _tiny_onnx(path)
    m = load(ModelConf(name="onnx", path=path, batch=2))
    assert m.entry == "main" and m.args[0].shape == [2, 16]
    tasks, _ = extract(m.mod, target)
    assert tasks


def test_corrupt_onnx_is_a_config_error(tmp_path):
    pytest.importorskip("onnx")
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="bad.onnx"):
        load(ModelConf(name="onnx", path=str(p)))


def test_torch_model_by_constructor(target):
    pytest.importorskip("torch")
    conf = ModelConf(name="torch", ctor="tests.torch_nets:tiny_conv", batch=2, input_size=16)
    m = load(conf)
    assert m.entry == "main" and m.args[0].shape == [2, 3, 16, 16]
    assert [a.name for a in m.args[1:]] == ["p_conv_weight", "p_conv_bias", "p_fc_weight", "p_fc_bias"]
    tasks, _ = extract(m.mod, target)
    assert tasks
    assert conf.label == "torch.tiny_conv"
    with pytest.raises(ConfigError, match="made a int, not a torch.nn.Module"):
        load(ModelConf(name="torch", ctor="tests.torch_nets:not_a_module"))
    with pytest.raises(ConfigError, match="cannot be imported"):
        load(ModelConf(name="torch", ctor="tests.torch_nets:missing"))


def test_transformers_model_takes_token_ids():
    pytest.importorskip("transformers")
    conf = ModelConf(name="torch", ctor="transformers.BertModel", input_size=16)
    assert conf.torch_input() == "sequence" and conf.label == "torch.BertModel"
    from harness.worker.torch_models import construct, example_input

    net = construct("transformers.BertModel")  # bert-base from its default config, random weights
    assert sum(p.numel() for p in net.parameters()) > 100e6
    assert example_input(conf).dtype.is_floating_point is False


def test_models_are_named_after_their_file_or_constructor():
    assert ModelConf(name="onnx", path="/models/my net.onnx").label == "onnx.my_net"
    assert ModelConf(name="torch", ctor="torchvision.models.resnet50").label == "torch.resnet50"
    assert ModelConf(name="resnet50").label == "resnet50"


def test_vendor_job_times_the_model_in_pytorch(tmp_path):
    pytest.importorskip("torch")
    from harness.config import InferConf
    from harness.device.proc import run_job
    from harness.jobs import Placement, Share, VendorJob
    from harness.layout import Step

    model = ModelConf(name="torch", ctor="tests.torch_nets:tiny_conv", input_size=16)
    job = VendorJob(Placement("cpu", 50), model, {"cell": "torch_eager"}, InferConf(warmup=1, number=5, repeats=3))
    res = run_job("vendor", job, Step(str(tmp_path), "vendor"), Share("cpu", 50))
    assert res.grant.units == 1 and res.torch_version
    assert [m.cell_id for m in res.measured] == ["cell"] and len(res.measured[0].latencies_ms) == 3
    assert all(0 < ms < 100 for ms in res.measured[0].latencies_ms)


def test_a_vendor_mode_that_fails_spares_the_others(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from harness.config import InferConf
    from harness.device.proc import run_job
    from harness.jobs import Placement, Share, VendorJob
    from harness.layout import Step

    monkeypatch.setenv("CXX", "/bin/false")  # torch.compile's C++ build fails on cpu; eager needs none
    model = ModelConf(name="torch", ctor="tests.torch_nets:tiny_conv", input_size=16)
    items = {"e": "torch_eager", "c": "torch_compile", "g": "torch_cudagraphs"}
    job = VendorJob(Placement("cpu", 50), model, items, InferConf(warmup=1, number=5, repeats=3))
    res = run_job("vendor", job, Step(str(tmp_path), "vendor"), Share("cpu", 50))
    assert [m.cell_id for m in res.measured] == ["e"]
    assert set(res.failed) == {"c", "g"} and res.failed["c"].startswith("torch_compile: ")
