"""The network a run trains: a registered backbone (trunk + AF head) plus a modality head.

The modality head reads the trunk's features *detached*: it learns to tell
rECG / tECG / hECG apart without pulling the trunk towards (or away from)
modality information, so the modality mix is the only thing that shapes the
AF classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from ecgshift.models import create_model

__all__ = ["EcgNet", "build_net", "MODALITY_CLASSES"]

#: Modality head outputs, in order.
MODALITY_CLASSES = ("recg", "tecg", "hecg")


class EcgNet(nn.Module):
    """Backbone + modality head. ``forward`` returns (AF logits, modality logits)."""

    def __init__(self, backbone: nn.Module, n_modalities: int = len(MODALITY_CLASSES)) -> None:
        super().__init__()
        self.backbone = backbone
        self.modality_head = nn.Linear(backbone.n_features, n_modalities)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)

    def forward_heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.backbone.forward_head(features), self.modality_head(features.detach())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_heads(self.forward_features(x))


def build_net(model: str, *, n_leads: int = 1, fs: float = 100.0, window_s: float = 10.0, **model_kwargs) -> EcgNet:
    """A fresh :class:`EcgNet` around the registered model ``model`` (2 classes: SR, AF)."""
    backbone = create_model(model, n_leads=n_leads, n_classes=2, fs=fs, window_s=window_s, **model_kwargs)
    return EcgNet(backbone)
