"""The zoo's networks, in tvm.relax.frontend.nn (random weights, nothing downloaded). Batch norm
is folded into convolution biases, as it is for inference."""

from __future__ import annotations

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
    def __init__(self, size):
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

    def __init__(self, size):
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


HIDDEN, HEADS = 768, 12  # BERT-base


class EncoderLayer(nn.Module):
    def __init__(self):
        self.q = Dense(HIDDEN, HIDDEN)
        self.k = Dense(HIDDEN, HIDDEN)
        self.v = Dense(HIDDEN, HIDDEN)
        self.o = Dense(HIDDEN, HIDDEN)
        self.ln1 = nn.LayerNorm(HIDDEN)
        self.up = Dense(HIDDEN, 4 * HIDDEN)
        self.down = Dense(4 * HIDDEN, HIDDEN)
        self.ln2 = nn.LayerNorm(HIDDEN)

    def forward(self, x):
        b, s = x.shape[0], x.shape[1]
        d = HIDDEN // HEADS

        def split(t):
            return nn.op.permute_dims(nn.op.reshape(t, [b, s, HEADS, d]), [0, 2, 1, 3])

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = nn.op.matmul(q, nn.op.permute_dims(k, [0, 1, 3, 2])) * (1.0 / d**0.5)
        ctx = nn.op.matmul(nn.op.softmax(att, axis=-1), v)
        ctx = nn.op.reshape(nn.op.permute_dims(ctx, [0, 2, 1, 3]), [b, s, HIDDEN])
        x = self.ln1(x + self.o(ctx))
        return self.ln2(x + self.down(nn.op.gelu(self.up(x))))


class BertBase(nn.Module):
    def __init__(self, size):
        self.words = nn.Embedding(30522, HIDDEN)
        self.positions = nn.Parameter((size, HIDDEN))
        self.ln = nn.LayerNorm(HIDDEN)
        self.layers = nn.ModuleList([EncoderLayer() for _ in range(12)])

    def forward(self, x):
        h = self.ln(self.words(x) + self.positions)
        for layer in self.layers:
            h = layer(h)
        return h


NETS = {  # name -> constructor of the network at input size `size`
    "tiny_mlp": TinyMLP,
    "tiny_cnn": lambda size: TinyCNN(),
    "resnet18": lambda size: ResNet(Basic, [2, 2, 2, 2]),
    "resnet50": lambda size: ResNet(Bottleneck, [3, 4, 6, 3]),
    "mobilenet_v2": lambda size: MobileNetV2(),
    "vgg16": VGG16,
    "bert_base": BertBase,
}
