"""Batched forward passes of an :class:`~ecgshift.network.EcgNet`: deterministic, full MC Dropout, fast MC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ecgshift.network import EcgNet
from ecgshift.uncertainty import mc_dropout, shared_mask_dropout

__all__ = ["Passes", "deterministic", "mc_passes"]


@dataclass(frozen=True, eq=False)
class Passes:
    """Raw outputs: ``samples`` (T, n, 2) AF-head probabilities, trunk ``features`` (n, F), ``logits`` (n, 2)
    of the deterministic pass, ``modality_logits`` (n, M) and the modality network's ``modality_features``."""

    samples: np.ndarray
    features: np.ndarray
    logits: np.ndarray
    modality_logits: np.ndarray
    modality_features: np.ndarray


def _batches(x: np.ndarray, batch_size: int):
    for start in range(0, x.shape[0], batch_size):
        yield torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32))


@torch.no_grad()
def deterministic(net: EcgNet, x: np.ndarray, *, batch_size: int = 512) -> Passes:
    """One eval-mode pass: features, AF logits, modality logits."""
    net.eval()
    feats, logits, mods, mod_feats = [], [], [], []
    for batch in _batches(x, batch_size):
        f = net.forward_features(batch)
        mf = net.modality_net.forward_features(batch)
        feats.append(f.numpy())
        logits.append(net.backbone.forward_head(f).numpy())
        mod_feats.append(mf.numpy())
        mods.append(net.modality_net.forward_head(mf).numpy())
    features = np.concatenate(feats) if feats else np.zeros((0, getattr(net.backbone, "n_features", 0)), np.float32)
    logits_all = np.concatenate(logits) if logits else np.zeros((0, 2), np.float32)
    return Passes(
        samples=torch.softmax(torch.from_numpy(logits_all), -1).numpy()[None],
        features=features,
        logits=logits_all,
        modality_logits=np.concatenate(mods) if mods else np.zeros((0, 3), np.float32),
        modality_features=np.concatenate(mod_feats) if mod_feats else np.zeros((0, getattr(net.modality_net, "n_features", 0)), np.float32),
    )


@torch.no_grad()
def mc_passes(net: EcgNet, x: np.ndarray, *, mc: int = 20, mc_scope: str = "head", temperature: float = 1.0,
              batch_size: int = 512, seed: int | None = 0) -> Passes:
    """``mc`` stochastic passes. ``mc_scope="head"``: trunk once, dropout head ``mc`` times; ``"full"``: the whole
    network ``mc`` times.

    The deterministic pass (features for the shift score, modality logits) is always run once. Each pass is one
    sampled network (:func:`ecgshift.uncertainty.shared_mask_dropout`): its masks come from ``seed`` and are shared
    by all windows, so a window gets the same prediction whatever it is batched with. ``seed=None`` draws the masks
    from the global RNG (and per window, as plain ``nn.Dropout`` does).
    """
    if mc_scope not in ("head", "full"):
        raise ValueError(f"mc_scope must be head or full, not {mc_scope!r}")
    base = deterministic(net, x, batch_size=batch_size)
    if mc <= 1:
        probs = torch.softmax(torch.from_numpy(base.logits) / temperature, -1).numpy()[None]
        return Passes(probs, base.features, base.logits, base.modality_logits, base.modality_features)
    samples = np.empty((mc, x.shape[0], base.logits.shape[1]), np.float32)
    if seed is None:
        context, new_pass = mc_dropout(net), (lambda: None)
    else:
        generator = torch.Generator().manual_seed(seed)
        context = shared_mask_dropout(net, generator=generator)
    with context as masks:
        if seed is not None:
            new_pass = masks.new_pass
        if mc_scope == "head":
            features = torch.from_numpy(base.features)
            for t in range(mc):
                new_pass()
                samples[t] = torch.softmax(net.backbone.forward_head(features) / temperature, -1).numpy()
        else:
            for t in range(mc):
                new_pass()
                start = 0
                for batch in _batches(x, batch_size):
                    out = net.backbone(batch)
                    samples[t, start : start + len(batch)] = torch.softmax(out / temperature, -1).numpy()
                    start += len(batch)
    return Passes(samples, base.features, base.logits, base.modality_logits, base.modality_features)
