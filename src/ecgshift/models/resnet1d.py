"""ResNet1d: a small, CPU-friendly 1-D ResNet that downsamples early."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgshift.models._layers import (
    EcgClassifier,
    conv_bn_act,
    kernel_samples,
    stem_stride,
    trunk_dropout,
)
from ecgshift.models._registry import register_model

__all__ = ["ResNet1d", "resnet1d"]


class _BasicBlock(nn.Module):
    """Two "same"-padded convs with BatchNorm and a (projected when needed) shortcut."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        nn.init.zeros_(self.bn2.weight)  # each block starts as the identity: steadier early training
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class ResNet1d(EcgClassifier):
    """1-D ResNet: strided stem conv + max-pool, four residual stages, global average pooling.

    The stem brings any input rate down to about 50 Hz, the pool to about 25 Hz, and stages 2-4
    halve the rate again (about 3 Hz at the end), so the cost barely depends on ``fs``.
    Kernel lengths are in seconds, converted at the rate each layer runs at; at 100 Hz the stem
    has 15 taps and every residual conv 7.  ``width`` is the number of channels of stage 1;
    stages 1-4 have ``width * (1, 2, 3, 4)`` channels and ``n_features = 4 * width``.
    With ``dropout_placement="all"`` an ``nn.Dropout`` follows every stage.
    """

    name = "resnet1d"
    stem_kernel_s = 0.15
    stage_widths = (1, 2, 3, 4)
    stage_strides = (1, 2, 2, 2)
    stage_kernel_s = (0.28, 0.56, 1.12, 2.24)  # 7 samples at the rate of each stage (25 ... 3.1 Hz)

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        fs: float,
        window_s: float,
        *,
        dropout: float = 0.3,
        dropout_placement: str = "head",
        width: int = 24,
    ) -> None:
        super().__init__(
            n_leads, n_classes, fs, window_s, dropout=dropout, dropout_placement=dropout_placement
        )
        if width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        s0 = stem_stride(self.fs)
        k0 = max(kernel_samples(self.stem_kernel_s, self.fs), 2 * s0 - 1)  # taps cover the stride
        self.stem = nn.Sequential(
            conv_bn_act(self.n_leads, width, k0, s0), nn.MaxPool1d(3, stride=2, padding=1)
        )
        rate = self.fs / (2 * s0)
        stages: list[nn.Module] = []
        c_in = width
        for mult, stride, k_s in zip(self.stage_widths, self.stage_strides, self.stage_kernel_s):
            rate /= stride
            c_out = width * mult
            block = _BasicBlock(c_in, c_out, kernel_samples(k_s, rate), stride)
            stages.append(nn.Sequential(block, trunk_dropout(self.dropout_rate, self.dropout_placement)))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self._init_head(c_in)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_leads, n_samples) -> (batch, n_features), any n_samples."""
        self._check_input(x)
        return self.pool(self.stages(self.stem(x))).flatten(1)


@register_model
def resnet1d(**kwargs: Any) -> ResNet1d:
    return ResNet1d(**kwargs)
