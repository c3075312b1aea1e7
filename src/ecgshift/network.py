"""The network a run trains: a registered backbone (trunk + AF head) and a small modality model.

The modality model is a separate, narrow network (``resnet1d`` at width 8,
~25k parameters) trained after the AF classifier on the same unique training
windows: the AF trunk learns to be modality-invariant (its features separate
rECG / tECG / hECG poorly, ~66 % on validation), so recognizing the modality
needs features of its own. Keeping it apart also means the modality mix is the
only thing that shapes the AF classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from ecgshift.models import create_model

__all__ = ["EcgNet", "build_net", "MODALITY_CLASSES", "MODALITY_MODEL"]

#: Modality model outputs, in order.
MODALITY_CLASSES = ("recg", "tecg", "hecg")
#: The architecture and options of the modality model.
MODALITY_MODEL = {"model": "resnet1d", "width": 8, "dropout": 0.1, "dropout_placement": "head"}


class EcgNet(nn.Module):
    """Backbone (AF) + modality model. ``forward`` returns (AF logits, modality logits)."""

    def __init__(self, backbone: nn.Module, modality_net: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.modality_net = modality_net

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.backbone(x), self.modality_net(x)


def build_net(model: str, *, n_leads: int = 1, fs: float = 100.0, window_s: float = 10.0, **model_kwargs) -> EcgNet:
    """A fresh :class:`EcgNet` around the registered model ``model`` (2 classes: SR, AF)."""
    backbone = create_model(model, n_leads=n_leads, n_classes=2, fs=fs, window_s=window_s, **model_kwargs)
    options = {k: v for k, v in MODALITY_MODEL.items() if k != "model"}
    modality_net = create_model(MODALITY_MODEL["model"], n_leads=n_leads, n_classes=len(MODALITY_CLASSES), fs=fs, window_s=window_s, **options)
    return EcgNet(backbone, modality_net)
