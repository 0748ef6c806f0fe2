"""Small PyTorch networks for the torch model source's tests (model.ctor=tests.torch_nets:...)."""

import torch


class TinyConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.mean(dim=(2, 3)))


def tiny_conv() -> torch.nn.Module:
    return TinyConv()


def not_a_module():
    return 42
