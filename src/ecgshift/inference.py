"""Batched forward passes of an :class:`~ecgshift.network.EcgNet`: deterministic, full MC Dropout, fast MC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ecgshift.network import EcgNet
from ecgshift.uncertainty import mc_dropout

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
def mc_passes(net: EcgNet, x: np.ndarray, *, T: int = 20, fast: bool = True, temperature: float = 1.0, batch_size: int = 512, seed: int | None = 0) -> Passes:
    """T stochastic passes. ``fast``: trunk once, dropout head T times; else the whole network T times.

    The deterministic pass (features for the shift score, modality logits) is always run once.
    The dropout masks come from ``seed`` (so the same input gives the same prediction) on a forked
    torch RNG, leaving the caller's random state untouched; ``seed=None`` uses the global RNG.
    """
    if seed is None:
        return _mc_passes(net, x, T=T, fast=fast, temperature=temperature, batch_size=batch_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _mc_passes(net, x, T=T, fast=fast, temperature=temperature, batch_size=batch_size)


def _mc_passes(net: EcgNet, x: np.ndarray, *, T: int, fast: bool, temperature: float, batch_size: int) -> Passes:
    base = deterministic(net, x, batch_size=batch_size)
    if T <= 1:
        probs = torch.softmax(torch.from_numpy(base.logits) / temperature, -1).numpy()[None]
        return Passes(probs, base.features, base.logits, base.modality_logits, base.modality_features)
    samples = np.empty((T, x.shape[0], base.logits.shape[1]), np.float32)
    with mc_dropout(net):
        if fast:
            features = torch.from_numpy(base.features)
            for t in range(T):
                samples[t] = torch.softmax(net.backbone.forward_head(features) / temperature, -1).numpy()
        else:
            for t in range(T):
                start = 0
                for batch in _batches(x, batch_size):
                    out = net.backbone(batch)
                    samples[t, start : start + len(batch)] = torch.softmax(out / temperature, -1).numpy()
                    start += len(batch)
    return Passes(samples, base.features, base.logits, base.modality_logits, base.modality_features)
