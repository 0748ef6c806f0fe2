"""Build a model's Relax module: a zoo network (harness.worker.nets), a user's ONNX file, or a
PyTorch model by constructor (torch.export, then TVM's exported-program frontend).

Weights stay function parameters (not bound constants): latency does not depend on their values,
and artefacts stay small.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import ConfigError, ModelConf
from harness.zoo import ZOO


@dataclass
class TensorSpec:
    name: str
    shape: list[int]
    dtype: str


@dataclass
class LoadedModel:
    mod: object  # tvm.IRModule
    entry: str  # Relax function to call
    args: list[TensorSpec]  # every argument of `entry`, inputs first, then weights


def load(conf: ModelConf) -> LoadedModel:
    if conf.name not in ZOO:
        raise ConfigError(f"model={conf.name!r} is not allowed; choose one of: {', '.join(sorted(ZOO))}")
    if conf.name == "onnx":
        return _load_onnx(conf)
    if conf.name == "torch":
        from harness.worker.torch_models import import_torch

        mod = import_torch(conf)
        return LoadedModel(mod, "main", arg_specs(mod["main"]))
    from tvm.relax.frontend import nn

    from harness.worker.nets import NETS

    entry = ZOO[conf.name]
    size = conf.input_size or entry.default_size
    net = NETS[conf.name](size)
    if entry.kind == "sequence":
        spec = nn.spec.Tensor([conf.batch, size], "int32")
    elif entry.kind == "vector":
        spec = nn.spec.Tensor([conf.batch, size], str(conf.dtype))
    else:
        spec = nn.spec.Tensor([conf.batch, 3, size, size], str(conf.dtype))
    if conf.dtype != "float32":
        net.to(str(conf.dtype))
    mod, _ = net.export_tvm({"forward": {"x": spec}})
    return LoadedModel(mod, "forward", arg_specs(mod["forward"]))


def arg_specs(func) -> list[TensorSpec]:
    return [TensorSpec(p.name, [int(d) for d in p.ty.shape], str(p.ty.dtype)) for p in func.params]


def _load_onnx(conf: ModelConf) -> LoadedModel:
    try:
        import onnx
    except ImportError as e:
        raise ConfigError("model=onnx needs the onnx package: pip install -e '.[onnx]'") from e
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    try:
        proto = onnx.load(conf.path)
    except Exception as e:  # noqa: BLE001 - onnx raises several kinds
        raise ConfigError(f"model.path={conf.path!r} is not a readable ONNX file: {e}") from e
    inits = {i.name for i in proto.graph.initializer}
    shapes = {}
    for inp in proto.graph.input:
        if inp.name in inits:
            continue
        dims = [d.dim_value if d.dim_value > 0 else conf.batch for d in inp.type.tensor_type.shape.dim]
        if dims:
            dims[0] = conf.batch
        shapes[inp.name] = dims
    mod = from_onnx(proto, shape_dict=shapes, keep_params_in_input=True)
    mod = relax.transform.DecomposeOpsForInference()(mod)
    return LoadedModel(mod, "main", arg_specs(mod["main"]))
