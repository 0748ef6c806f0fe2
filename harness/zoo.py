"""The model zoo's table: names, input kinds and defaults (no TVM; the networks themselves are
built in harness.worker.models)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZooEntry:
    kind: str  # image | sequence | vector | onnx | torch
    default_size: int  # image side, sequence length or feature count
    about: str
    torch: str | None = None  # the same network in PyTorch (vendor reference rows)


ZOO: dict[str, ZooEntry] = {
    "tiny_mlp": ZooEntry("vector", 64, "2 dense layers; for tests"),
    "tiny_cnn": ZooEntry("image", 32, "2 convolutions + classifier; for tests and quick runs"),
    "resnet18": ZooEntry("image", 224, "ResNet-18, basic blocks",
                         "torchvision.models.resnet18"),
    "resnet50": ZooEntry("image", 224, "ResNet-50, bottleneck blocks",
                         "torchvision.models.resnet50"),
    "mobilenet_v2": ZooEntry("image", 224, "MobileNetV2, inverted residuals, depthwise convs",
                             "torchvision.models.mobilenet_v2"),
    "vgg16": ZooEntry("image", 224, "VGG-16",
                      "torchvision.models.vgg16"),
    "bert_base": ZooEntry("sequence", 128, "BERT-base encoder, 12 layers, hidden 768",
                          "transformers.BertModel"),
    "onnx": ZooEntry("onnx", 0, "a user's ONNX file (model.path=...); needs the onnx extra"),
    "torch": ZooEntry("torch", 0, "a PyTorch model by constructor (model.ctor=...), random weights; needs torch"),
}

# models a sweep can name without a file or a constructor
BUILTIN = tuple(name for name, e in ZOO.items() if e.kind not in ("onnx", "torch"))
