"""PyTorch models by constructor: built with random weights (nothing downloaded), exported with
torch.export on an example input, and imported with TVM's exported-program frontend, weights
kept as function parameters like the zoo's."""

from __future__ import annotations

import importlib

from harness.config import ConfigError, InputKind, ModelConf
from harness.zoo import ZOO

DEFAULT_SIZE = {InputKind.image: 224, InputKind.sequence: 128}


def construct(ctor: str):
    """The module `ctor` names, in eval mode: `package.module.name` or `package.module:name`; a
    function or class is called without arguments, a transformers model from its default config."""
    module_name, _, attr = ctor.partition(":") if ":" in ctor else ctor.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"model.ctor={ctor!r} cannot be imported: {e}") from e
    config_class = getattr(obj, "config_class", None)
    net = obj(config_class()) if config_class is not None else obj()
    import torch

    if not isinstance(net, torch.nn.Module):
        raise ConfigError(f"model.ctor={ctor!r} made a {type(net).__name__}, not a torch.nn.Module")
    return net.eval()


def build(conf: ModelConf):
    """The model's network in PyTorch (its own constructor, or the zoo's counterpart), in its dtype."""
    net = construct(conf.torch_ctor() or "")
    if str(conf.dtype) != "float32":
        import torch

        net = net.to(getattr(torch, str(conf.dtype)))
    return net


def example_input(conf: ModelConf):
    import torch

    kind = conf.torch_input()
    size = conf.input_size or (DEFAULT_SIZE[kind] if conf.name == "torch" else ZOO[conf.name].default_size)
    if kind == InputKind.sequence:
        return torch.zeros(conf.batch, size, dtype=torch.int64)  # token ids
    return torch.randn(conf.batch, 3, size, size, dtype=getattr(torch, str(conf.dtype)))


def import_torch(conf: ModelConf):
    """The model's Relax module (entry `main`: the input, then the weights)."""
    import torch
    from tvm import relax
    from tvm.relax.frontend import detach_params
    from tvm.relax.frontend.torch import from_exported_program

    with torch.no_grad():
        exported = torch.export.export(build(conf), (example_input(conf),), strict=False)
    mod = from_exported_program(exported, keep_params_as_input=True, unwrap_unit_return_tuple=True)
    mod, _ = detach_params(mod)  # the weights' values are not kept (latency does not depend on them)
    return relax.transform.DecomposeOpsForInference()(mod)
