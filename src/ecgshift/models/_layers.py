"""Pieces shared by the model zoo: the common base class, the head, kernel and stride helpers.

Every model keeps all of its randomness in ``nn.Dropout`` modules, so Monte Carlo Dropout
only has to switch those to train mode (BatchNorm stays in eval mode).  With
``dropout_placement="head"`` the trunk has no ``nn.Dropout`` at all and is deterministic in
eval mode, so a fast MC-Dropout path can run it once and resample only ``head``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

__all__ = [
    "DROPOUT_PLACEMENTS",
    "TARGET_STEM_FS",
    "EcgClassifier",
    "build_head",
    "check_dropout_placement",
    "conv_bn_act",
    "kernel_samples",
    "stem_stride",
    "trunk_dropout",
]

DROPOUT_PLACEMENTS = ("head", "all")
TARGET_STEM_FS = 50.0  # the stem conv downsamples any input rate to about this many Hz


def kernel_samples(kernel_s: float, fs: float) -> int:
    """Samples in a kernel lasting ``kernel_s`` seconds at ``fs`` Hz: the nearest odd int, at least 1.

    Odd lengths keep ``padding = k // 2`` "same"-sized, so strided branches and shortcuts agree.

    >>> kernel_samples(0.15, 100.0), kernel_samples(0.14, 100.0), kernel_samples(0.001, 100.0)
    (15, 15, 1)
    """
    if not (kernel_s > 0 and math.isfinite(kernel_s)):
        raise ValueError(f"kernel_s must be a positive number of seconds, got {kernel_s!r}")
    if not (fs > 0 and math.isfinite(fs)):
        raise ValueError(f"fs must be a positive number of Hz, got {fs!r}")
    n = kernel_s * fs
    return max(1, 2 * math.floor((n - 1) / 2 + 0.5) + 1)


def stem_stride(fs: float, target_fs: float = TARGET_STEM_FS) -> int:
    """Stride of the first conv, chosen so that its output runs at about ``target_fs`` Hz.

    This keeps the rest of the trunk (and its cost) nearly the same at 100, 250, 360 or 500 Hz.
    """
    return max(1, round(fs / target_fs))


def check_dropout_placement(placement: str) -> str:
    """Return ``placement`` if it is one of :data:`DROPOUT_PLACEMENTS`, else raise ValueError."""
    if placement not in DROPOUT_PLACEMENTS:
        accepted = ", ".join(repr(p) for p in DROPOUT_PLACEMENTS)
        raise ValueError(f"dropout_placement must be one of {accepted}, got {placement!r}")
    return placement


def trunk_dropout(p: float, placement: str) -> nn.Module:
    """``nn.Dropout(p)`` if ``placement == "all"``, else ``nn.Identity()`` (a dropout-free trunk)."""
    return nn.Dropout(p) if check_dropout_placement(placement) == "all" else nn.Identity()


def conv_bn_act(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Conv1d ("same" padding, no bias) -> BatchNorm1d -> ReLU."""
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
    )


def build_head(n_features: int, n_classes: int, dropout: float) -> nn.Sequential:
    """The classification head: ``nn.Dropout(dropout)`` then ``nn.Linear(n_features, n_classes)``."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, n_classes))


class EcgClassifier(nn.Module):
    """Base of every model: argument checks, the head, ``forward`` and ``reset_classifier``.

    Subclasses build their trunk, implement :meth:`forward_features` and call
    :meth:`_init_head` with the size of their feature vector.
    """

    name: ClassVar[str] = ""
    n_features: int

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        fs: float,
        window_s: float,
        *,
        dropout: float = 0.3,
        dropout_placement: str = "head",
    ) -> None:
        super().__init__()
        if int(n_leads) != n_leads or n_leads < 1:
            raise ValueError(f"n_leads must be a positive int, got {n_leads!r}")
        if int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
        if not (fs > 0 and math.isfinite(fs)):
            raise ValueError(f"fs must be a positive number of Hz, got {fs!r}")
        if not (window_s > 0 and math.isfinite(window_s)):
            raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.n_leads = int(n_leads)
        self.n_classes = int(n_classes)
        self.fs = float(fs)
        self.window_s = float(window_s)
        self.n_samples = round(self.fs * self.window_s)
        self.dropout_rate = float(dropout)
        self.dropout_placement = check_dropout_placement(dropout_placement)

    def _init_head(self, n_features: int) -> None:
        """Create ``self.head`` on top of a trunk that yields ``n_features`` features."""
        self.n_features = int(n_features)
        self.head = build_head(self.n_features, self.n_classes, self.dropout_rate)

    def _check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is (batch, n_leads, n_samples); any length is accepted."""
        if x.dim() != 3 or x.shape[1] != self.n_leads:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (batch, {self.n_leads}, n_samples), "
                f"got {tuple(x.shape)}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk: (batch, n_leads, n_samples) -> (batch, n_features)."""
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """The head: (batch, n_features) -> (batch, n_classes) logits."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, (batch, n_classes), of a batch of windows (batch, n_leads, n_samples)."""
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, n_classes: int) -> None:
        """Replace the final Linear of the head by a freshly initialised one with ``n_classes`` outputs."""
        if int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
        old = self.head[-1]
        self.head[-1] = nn.Linear(
            self.n_features, int(n_classes), device=old.weight.device, dtype=old.weight.dtype
        )
        self.n_classes = int(n_classes)

    def extra_repr(self) -> str:
        return (
            f"n_leads={self.n_leads}, n_classes={self.n_classes}, fs={self.fs:g}, "
            f"window_s={self.window_s:g}, dropout={self.dropout_rate:g}, "
            f"dropout_placement={self.dropout_placement!r}"
        )
