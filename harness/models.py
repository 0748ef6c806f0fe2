"""The model zoo, defined in code with tvm.relax.frontend.nn (random weights, nothing downloaded).

`ZOO` is importable without TVM (validation uses it); `load` builds the Relax module. Batch norm
is folded into convolution biases, as it is for inference. Weights stay function parameters
(not bound constants): latency does not depend on their values, and artefacts stay small.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import ConfigError, ModelConf


@dataclass(frozen=True)
class ZooEntry:
    kind: str  # image | sequence | vector | onnx
    default_size: int  # image side, sequence length or feature count
    about: str


ZOO: dict[str, ZooEntry] = {
    "tiny_mlp": ZooEntry("vector", 64, "2 dense layers; for tests"),
    "tiny_cnn": ZooEntry("image", 32, "2 convolutions + classifier; for tests and quick runs"),
    "resnet18": ZooEntry("image", 224, "ResNet-18, basic blocks"),
    "resnet50": ZooEntry("image", 224, "ResNet-50, bottleneck blocks"),
    "mobilenet_v2": ZooEntry("image", 224, "MobileNetV2, inverted residuals, depthwise convs"),
    "vgg16": ZooEntry("image", 224, "VGG-16"),
    "bert_base": ZooEntry("sequence", 128, "BERT-base encoder, 12 layers, hidden 768"),
    "onnx": ZooEntry("onnx", 0, "a user's ONNX file (model.path=...); needs the onnx extra"),
}


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
    from tvm.relax.frontend import nn

    entry = ZOO[conf.name]
    size = conf.input_size or entry.default_size
    net = _build(conf.name, size)
    if entry.kind == "sequence":
        spec = nn.spec.Tensor([conf.batch, size], "int32")
    elif entry.kind == "vector":
        spec = nn.spec.Tensor([conf.batch, size], conf.dtype)
    else:
        spec = nn.spec.Tensor([conf.batch, 3, size, size], conf.dtype)
    if conf.dtype != "float32":
        net.to(conf.dtype)
    mod, _ = net.export_tvm({"forward": {"x": spec}})
    return LoadedModel(mod, "forward", _arg_specs(mod["forward"]))


def _arg_specs(func) -> list[TensorSpec]:
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
    return LoadedModel(mod, "main", _arg_specs(mod["main"]))


def _build(name: str, size: int):
    from tvm import relax
    from tvm.relax.frontend import nn
    from tvm.relax.frontend.nn.core import wrap_nested

    def max_pool(x, k, s, p):
        return wrap_nested(relax.op.nn.max_pool2d(x._expr, k, s, p), "max_pool")

    def global_pool(x):
        x = wrap_nested(relax.op.nn.adaptive_avg_pool2d(x._expr, (1, 1)), "gap")
        return nn.op.reshape(x, [x.shape[0], x.shape[1]])

    class ConvAct(nn.Module):
        """conv (+ folded batch norm as bias) + optional relu/relu6."""

        def __init__(self, cin, cout, k, stride=1, groups=1, act="relu"):
            self.conv = nn.Conv2D(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=True)
            self.act = act

        def forward(self, x):
            x = self.conv(x)
            if self.act == "relu":
                return nn.op.relu(x)
            if self.act == "relu6":
                return nn.op.relu6(x)
            return x

    class Dense(nn.Module):
        """x @ W + b with W stored [in, out], the layout inference uses (no runtime transpose)."""

        def __init__(self, cin, cout):
            self.weight = nn.Parameter((cin, cout))
            self.bias = nn.Parameter((cout,))

        def forward(self, x):
            return nn.op.matmul(x, self.weight) + self.bias

    class TinyMLP(nn.Module):
        def __init__(self):
            self.fc1 = Dense(size, 128)
            self.fc2 = Dense(128, 10)

        def forward(self, x):
            return self.fc2(nn.op.relu(self.fc1(x)))

    class TinyCNN(nn.Module):
        def __init__(self):
            self.c1 = ConvAct(3, 16, 3)
            self.c2 = ConvAct(16, 32, 3, stride=2)
            self.fc = Dense(32, 10)

        def forward(self, x):
            return self.fc(global_pool(self.c2(self.c1(x))))

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, cin, width, stride):
            self.a = ConvAct(cin, width, 3, stride)
            self.b = ConvAct(width, width, 3, act=None)
            self.down = ConvAct(cin, width, 1, stride, act=None) if stride != 1 or cin != width else None

        def forward(self, x):
            skip = self.down(x) if self.down is not None else x
            return nn.op.relu(self.b(self.a(x)) + skip)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, width, stride):
            cout = width * 4
            self.a = ConvAct(cin, width, 1)
            self.b = ConvAct(width, width, 3, stride)
            self.c = ConvAct(width, cout, 1, act=None)
            self.down = ConvAct(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else None

        def forward(self, x):
            skip = self.down(x) if self.down is not None else x
            return nn.op.relu(self.c(self.b(self.a(x))) + skip)

    class ResNet(nn.Module):
        def __init__(self, block, layers):
            self.stem = ConvAct(3, 64, 7, 2)
            blocks, cin = [], 64
            for i, n in enumerate(layers):
                width = 64 * 2**i
                for j in range(n):
                    blocks.append(block(cin, width, 2 if (j == 0 and i > 0) else 1))
                    cin = width * block.expansion
            self.blocks = nn.ModuleList(blocks)
            self.fc = Dense(cin, 1000)

        def forward(self, x):
            x = max_pool(self.stem(x), 3, 2, 1)
            for b in self.blocks:
                x = b(x)
            return self.fc(global_pool(x))

    class Inverted(nn.Module):
        def __init__(self, cin, cout, stride, t):
            hidden = cin * t
            self.expand = ConvAct(cin, hidden, 1, act="relu6") if t != 1 else None
            self.dw = ConvAct(hidden, hidden, 3, stride, groups=hidden, act="relu6")
            self.project = ConvAct(hidden, cout, 1, act=None)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.expand(x) if self.expand is not None else x
            y = self.project(self.dw(y))
            return x + y if self.residual else y

    class MobileNetV2(nn.Module):
        def __init__(self):
            self.stem = ConvAct(3, 32, 3, 2, act="relu6")
            blocks, cin = [], 32
            for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
                for j in range(n):
                    blocks.append(Inverted(cin, c, s if j == 0 else 1, t))
                    cin = c
            self.blocks = nn.ModuleList(blocks)
            self.head = ConvAct(cin, 1280, 1, act="relu6")
            self.fc = Dense(1280, 1000)

        def forward(self, x):
            x = self.stem(x)
            for b in self.blocks:
                x = b(x)
            return self.fc(global_pool(self.head(x)))

    class VGG16(nn.Module):
        plan = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

        def __init__(self):
            convs, cin = [], 3
            for v in self.plan:
                if v != "M":
                    convs.append(ConvAct(cin, v, 3))
                    cin = v
            self.convs = nn.ModuleList(convs)
            side = size // 32
            self.fc1 = Dense(512 * side * side, 4096)
            self.fc2 = Dense(4096, 4096)
            self.fc3 = Dense(4096, 1000)

        def forward(self, x):
            i = 0
            for v in self.plan:
                if v == "M":
                    x = max_pool(x, 2, 2, 0)
                else:
                    x = self.convs[i](x)
                    i += 1
            x = nn.op.reshape(x, [x.shape[0], -1])
            return self.fc3(nn.op.relu(self.fc2(nn.op.relu(self.fc1(x)))))

    hidden, heads = 768, 12

    class EncoderLayer(nn.Module):
        def __init__(self):
            self.q = Dense(hidden, hidden)
            self.k = Dense(hidden, hidden)
            self.v = Dense(hidden, hidden)
            self.o = Dense(hidden, hidden)
            self.ln1 = nn.LayerNorm(hidden)
            self.up = Dense(hidden, 4 * hidden)
            self.down = Dense(4 * hidden, hidden)
            self.ln2 = nn.LayerNorm(hidden)

        def forward(self, x):
            b, s = x.shape[0], x.shape[1]
            d = hidden // heads

            def split(t):
                return nn.op.permute_dims(nn.op.reshape(t, [b, s, heads, d]), [0, 2, 1, 3])

            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            att = nn.op.matmul(q, nn.op.permute_dims(k, [0, 1, 3, 2])) * (1.0 / d**0.5)
            ctx = nn.op.matmul(nn.op.softmax(att, axis=-1), v)
            ctx = nn.op.reshape(nn.op.permute_dims(ctx, [0, 2, 1, 3]), [b, s, hidden])
            x = self.ln1(x + self.o(ctx))
            return self.ln2(x + self.down(nn.op.gelu(self.up(x))))

    class BertBase(nn.Module):
        def __init__(self):
            self.words = nn.Embedding(30522, hidden)
            self.positions = nn.Parameter((size, hidden))
            self.ln = nn.LayerNorm(hidden)
            self.layers = nn.ModuleList([EncoderLayer() for _ in range(12)])

        def forward(self, x):
            h = self.ln(self.words(x) + self.positions)
            for layer in self.layers:
                h = layer(h)
            return h

    return {
        "tiny_mlp": TinyMLP,
        "tiny_cnn": TinyCNN,
        "resnet18": lambda: ResNet(Basic, [2, 2, 2, 2]),
        "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3]),
        "mobilenet_v2": MobileNetV2,
        "vgg16": VGG16,
        "bert_base": BertBase,
    }[name]()
