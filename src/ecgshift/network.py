"""The network a run trains: a registered backbone (trunk + AF head) and a small modality model.

The modality model is a separate, narrow network (``resnet1d`` at width 8,
~25k parameters) trained after the AF classifier on the same unique training
windows: the AF trunk learns to be modality-invariant (its features separate
rECG / tECG / hECG poorly, ~66 % on validation), so recognizing the modality
needs features of its own. Keeping it apart also means the modality mix is the
only thing that shapes the AF classifier.

Runs since 2026-11-23 hold an ensemble of such networks (:class:`ModalityEnsemble`,
three by default, each trained from its own seed): its features are the members'
features side by side and its logits their mean. The shift score's density on those
features told an unseen modality apart better than any single member's (see
:mod:`ecgshift.shift`).
"""

from __future__ import annotations

import torch
from torch import nn

from ecgshift.models import create_model

__all__ = ["EcgNet", "ModalityEnsemble", "build_net", "modality_members", "MODALITY_CLASSES", "MODALITY_MODEL"]

#: Modality model outputs, in order.
MODALITY_CLASSES = ("recg", "tecg", "hecg")
#: The architecture and options of the modality model.
MODALITY_MODEL = {"model": "resnet1d", "width": 8, "dropout": 0.1, "dropout_placement": "head"}


class ModalityEnsemble(nn.Module):
    """Modality networks side by side: ``forward_features`` concatenates the members' features,
    ``forward_head`` averages the members' logits (each member's head on its own features)."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least 2 members")
        self.members = nn.ModuleList(members)
        self.n_features = sum(m.n_features for m in members)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.forward_features(x) for m in self.members], dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        parts = torch.split(features, [m.n_features for m in self.members], dim=1)
        return torch.stack([m.forward_head(f) for m, f in zip(self.members, parts)]).mean(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


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


def build_net(model: str, *, n_leads: int = 1, fs: float = 100.0, window_s: float = 10.0, modality_members: int = 1,
              **model_kwargs) -> EcgNet:
    """A fresh :class:`EcgNet` around the registered model ``model`` (2 classes: SR, AF) with
    ``modality_members`` modality networks (1: a single network, as in runs before 2026-11-23)."""
    if modality_members < 1:
        raise ValueError(f"modality_members must be at least 1, got {modality_members!r}")
    backbone = create_model(model, n_leads=n_leads, n_classes=2, fs=fs, window_s=window_s, **model_kwargs)
    options = {k: v for k, v in MODALITY_MODEL.items() if k != "model"}

    def member() -> nn.Module:
        return create_model(MODALITY_MODEL["model"], n_leads=n_leads, n_classes=len(MODALITY_CLASSES), fs=fs, window_s=window_s, **options)

    members = [member()]
    with torch.random.fork_rng(devices=[]):  # extra members leave the global RNG as one member does (same AF training)
        members += [member() for _ in range(modality_members - 1)]
    return EcgNet(backbone, members[0] if modality_members == 1 else ModalityEnsemble(members))


def modality_members(net: EcgNet) -> list[nn.Module]:
    """The modality network(s) of ``net``, one per member."""
    m = net.modality_net
    return list(m.members) if isinstance(m, ModalityEnsemble) else [m]
