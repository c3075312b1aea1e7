"""ConvTransformer: a strided conv tokenizer followed by two small pre-norm transformer layers.

The encoder layers are written out here rather than taken from ``nn.TransformerEncoderLayer``,
because with torch 2.13 that class (a) always holds ``nn.Dropout`` modules, even with
``dropout=0``, so the trunk could not be dropout-free; (b) takes a fused "fast path" in eval
mode under ``no_grad`` that skips its dropout modules, so Monte Carlo Dropout (eval model,
dropout modules in train mode) would silently be deterministic; and (c) its fused path and CPU
``scaled_dot_product_attention`` are invisible to ``FlopCounterMode``.  Attention below is plain
matmul + softmax, which is as fast at ~30 tokens and is counted.
"""

from __future__ import annotations

import math
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

__all__ = ["ConvTransformer", "transformer"]


def sinusoidal_positions(n_tokens: int, dim: int, *, device: torch.device | None = None) -> torch.Tensor:
    """The (n_tokens, dim) sinusoidal positional encoding of "Attention is all you need"."""
    pos = torch.arange(n_tokens, dtype=torch.float32, device=device).unsqueeze(1)
    freq = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim)
    )
    pe = torch.zeros(n_tokens, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class _SelfAttention(nn.Module):
    """Multi-head self-attention without dropout on the attention weights."""

    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"width ({dim}) must be divisible by the number of heads ({n_heads})")
        self.n_heads = n_heads
        self.scale = (dim // n_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))


class _EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer: x + attn(LN(x)), then x + FFN(LN(x)), GELU FFN."""

    def __init__(self, dim: int, n_heads: int, ff_dim: int, dropout: float, placement: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _SelfAttention(dim, n_heads)
        self.drop1 = trunk_dropout(dropout, placement)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(), nn.Linear(ff_dim, dim))
        self.drop2 = trunk_dropout(dropout, placement)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop1(self.attn(self.norm1(x)))
        return x + self.drop2(self.ff(self.norm2(x)))


class ConvTransformer(EcgClassifier):
    """Conv tokenizer (to about 3 tokens/s) -> sinusoidal positions -> 2 encoder layers -> mean pool.

    The tokenizer's first conv brings any input rate down to about 50 Hz, then strides 2, 2, 4
    give about 3.1 tokens per second: 32 tokens for a 10-s window, whatever ``fs`` is.  Kernel
    lengths are in seconds, converted at the rate each conv runs at (15, 7, 7, 7 taps at 100 Hz).
    ``width`` is the token dimension (``n_features``), with 4 heads and a ``2 * width`` FFN.
    Sinusoidal positions need no maximum length, so any input length works.  With
    ``dropout_placement="all"``, ``nn.Dropout`` acts on the embedded tokens and on both residual
    branches of every layer.
    """

    name = "transformer"
    n_layers = 2
    n_heads = 4
    conv_kernel_s = (0.15, 0.14, 0.28, 0.56)  # 15, 7, 7, 7 taps at 100, 50, 25, 12.5 Hz
    conv_strides = (None, 2, 2, 4)  # None: the fs-dependent stem stride

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
        if width < 2 or width % (2 * self.n_heads):
            raise ValueError(f"width must be a positive multiple of {2 * self.n_heads}, got {width!r}")
        layers: list[nn.Module] = []
        rate, c_in = self.fs, self.n_leads
        channels = (width // 2, width, width, width)
        for c_out, k_s, stride in zip(channels, self.conv_kernel_s, self.conv_strides):
            s = stem_stride(rate) if stride is None else stride
            k = max(kernel_samples(k_s, rate), 2 * s - 1)
            layers.append(conv_bn_act(c_in, c_out, k, s))
            rate, c_in = rate / s, c_out
        self.tokenizer = nn.Sequential(*layers)
        self.token_dropout = trunk_dropout(self.dropout_rate, self.dropout_placement)
        self.encoder = nn.Sequential(
            *(
                _EncoderLayer(width, self.n_heads, 2 * width, self.dropout_rate, self.dropout_placement)
                for _ in range(self.n_layers)
            )
        )
        self.norm = nn.LayerNorm(width)
        self._init_head(width)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Token embeddings with positions, (batch, n_tokens, width)."""
        self._check_input(x)
        tok = self.tokenizer(x).transpose(1, 2)
        return tok + sinusoidal_positions(tok.shape[1], tok.shape[2], device=tok.device).to(tok.dtype)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_leads, n_samples) -> (batch, n_features), any n_samples."""
        return self.norm(self.encoder(self.token_dropout(self.tokens(x)))).mean(dim=1)


@register_model
def transformer(**kwargs: Any) -> ConvTransformer:
    return ConvTransformer(**kwargs)
