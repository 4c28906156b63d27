"""The icon CNN: a (1, 32, 32) ink picture -> a unit vector in MiniLM space + an icon-ness logit.

WHY this shape: a plain VGG-style stack of 3x3 convs is fast on a 2-core CPU
both in torch and onnxruntime, and the head flattens the 4x4 map instead of average-pooling it
so the position of parts survives (arrow-left vs arrow-right, chevron-up vs chevron-down).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

DIM = 384


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class IconNet(nn.Module):
    """~20 M multiply-adds per 32x32 picture: a strided second conv halves the costliest stage."""

    def __init__(self, widths: tuple[int, int, int, int] = (32, 48, 96, 160), hidden: int = 512) -> None:
        super().__init__()
        a, b, c, d = widths
        self.widths = widths
        self.features = nn.Sequential(
            *_conv(1, a), *_conv(a, b, 2), *_conv(b, b), nn.MaxPool2d(2),  # 32 -> 16 -> 8
            *_conv(b, c), *_conv(c, c), nn.MaxPool2d(2),  # 8 -> 4
            *_conv(c, d),
        )
        self.hidden = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(d * 16, hidden), nn.ReLU(inplace=True))
        self.embed = nn.Linear(hidden, DIM)
        self.icon = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (n, 1, 32, 32) in 0..1 -> (unit vectors (n, 384), icon logits (n,))."""
        h = self.hidden(self.features(x * 2.0 - 1.0))
        return F.normalize(self.embed(h), dim=-1), self.icon(h).squeeze(-1)
