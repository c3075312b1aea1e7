"""CRNN: a strided conv front end followed by a bidirectional GRU, pooled over time."""

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

__all__ = ["CRNN", "crnn"]


class CRNN(EcgClassifier):
    """Three strided conv layers (to about 6.25 Hz) -> one bidirectional GRU -> mean over time.

    The first conv brings any input rate down to about 50 Hz, the next two divide it by 2 and 4,
    so a 10-s window gives about 63 GRU steps whatever ``fs`` is (the GRU runs step by step,
    so fewer steps is what keeps it cheap on CPU).  Kernel lengths are in
    seconds, converted at the rate each conv runs at (15, 7 and 7 taps at 100 Hz).
    ``width`` is both the conv channel count and the GRU hidden size per direction;
    ``n_features = 2 * width``.  With ``dropout_placement="all"`` an ``nn.Dropout`` follows the
    conv front end and another the GRU output (the GRU has one layer, so no internal dropout).
    """

    name = "crnn"
    conv_kernel_s = (0.15, 0.14, 0.28)  # 15, 7, 7 taps at 100, 50, 25 Hz
    conv_strides = (None, 2, 4)  # None: the fs-dependent stem stride

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        fs: float,
        window_s: float,
        *,
        dropout: float = 0.3,
        dropout_placement: str = "head",
        width: int = 64,
    ) -> None:
        super().__init__(
            n_leads, n_classes, fs, window_s, dropout=dropout, dropout_placement=dropout_placement
        )
        if width < 2:
            raise ValueError(f"width must be an int >= 2, got {width!r}")
        layers: list[nn.Module] = []
        rate, c_in = self.fs, self.n_leads
        channels = (width // 2, width, width)
        for c_out, k_s, stride in zip(channels, self.conv_kernel_s, self.conv_strides):
            s = stem_stride(rate) if stride is None else stride
            k = max(kernel_samples(k_s, rate), 2 * s - 1)
            layers.append(conv_bn_act(c_in, c_out, k, s))
            rate, c_in = rate / s, c_out
        layers.append(trunk_dropout(self.dropout_rate, self.dropout_placement))
        self.frontend = nn.Sequential(*layers)
        self.gru = nn.GRU(width, width, num_layers=1, batch_first=True, bidirectional=True)
        self.rnn_dropout = trunk_dropout(self.dropout_rate, self.dropout_placement)
        self._init_head(2 * width)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_leads, n_samples) -> (batch, n_features), any n_samples."""
        self._check_input(x)
        seq = self.frontend(x).transpose(1, 2)  # (batch, time, width)
        out, _ = self.gru(seq)  # (batch, time, 2 * width)
        return self.rnn_dropout(out).mean(dim=1)


@register_model
def crnn(**kwargs: Any) -> CRNN:
    return CRNN(**kwargs)
