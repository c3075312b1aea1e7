"""Predictive uncertainty: Monte Carlo Dropout (full and fast head-only), ensembles, temperature scaling.

MC Dropout (Gal & Ghahramani 2016) keeps dropout active at inference and
averages T stochastic passes. Only ``nn.Dropout`` modules are switched to train
mode, temporarily (``try/finally``); BatchNorm stays in eval mode. The *fast
path* runs the deterministic trunk once and resamples only the dropout head T
times; with ``dropout_placement="head"`` it is exactly full MC Dropout, with
``"all"`` it is an approximation whose agreement ``benchmarks/inference.py`` measures.

From T (or K ensemble members') class probabilities p_t:
- mean p(AF) = mean_t p_t(AF);
- predictive entropy H[mean_t p_t] (total uncertainty, nats);
- mutual information = H[mean_t p_t] − mean_t H[p_t] (the epistemic part);
- std of p_t(AF) across passes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Iterator

import numpy as np
import torch
from torch import nn

__all__ = [
    "Predictions",
    "mc_dropout",
    "shared_mask_dropout",
    "entropy",
    "mutual_information",
    "summarize_samples",
    "fit_temperature",
    "SampleStats",
]


@contextmanager
def mc_dropout(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode except every ``nn.Dropout``, which samples; the previous modes are restored on exit."""
    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        for m in module.modules():
            if isinstance(m, nn.Dropout):
                m.train()
        yield module
    finally:
        for m, mode in modes.items():
            m.training = mode


class SharedMasks:
    """Dropout masks drawn once per MC pass and shared by every window of the pass (see :func:`shared_mask_dropout`)."""

    def __init__(self, generator: torch.Generator | None) -> None:
        self.generator = generator
        self._masks: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}

    def new_pass(self) -> None:
        self._masks.clear()

    def apply(self, module: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
        key = (id(module), tuple(x.shape[1:]))
        if key not in self._masks:
            keep = 1.0 - module.p
            draw = torch.rand((1, *x.shape[1:]), generator=self.generator, dtype=torch.float32)
            self._masks[key] = (draw < keep).to(x.dtype) / max(keep, 1e-12)
        return x * self._masks[key]


@contextmanager
def shared_mask_dropout(module: nn.Module, *, generator: torch.Generator | None = None) -> Iterator[SharedMasks]:
    """MC Dropout in which each pass is one sampled network: every ``nn.Dropout`` draws its mask once per pass
    (:meth:`SharedMasks.new_pass`) and applies it to every window, so a window's prediction does not depend on
    which other windows share its batch (the API, ``predict`` and ``holter`` batch windows differently). Each window's
    T samples are still T independent dropout draws. Eval mode throughout; the hooks are removed on exit."""
    modes = {m: m.training for m in module.modules()}
    masks = SharedMasks(generator)
    handles = []
    try:
        module.eval()
        for m in module.modules():
            if isinstance(m, nn.Dropout):
                handles.append(m.register_forward_hook(lambda mod, inputs, output: masks.apply(mod, inputs[0])))
        yield masks
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in modes.items():
            m.training = mode


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats of probability vectors along ``axis``."""
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=axis)


def mutual_information(samples: np.ndarray) -> np.ndarray:
    """Epistemic uncertainty of (T, n, classes) samples: H[mean] − mean H."""
    return entropy(samples.mean(axis=0)) - entropy(samples).mean(axis=0)


@dataclass(frozen=True, eq=False)
class SampleStats:
    """Summary of (T, n, classes) probability samples."""

    p_af: np.ndarray
    entropy: np.ndarray
    mutual_info: np.ndarray
    std: np.ndarray


def summarize_samples(samples: np.ndarray, *, af_index: int = 1) -> SampleStats:
    mean = samples.mean(axis=0)
    return SampleStats(
        p_af=mean[:, af_index],
        entropy=entropy(mean),
        mutual_info=np.maximum(mutual_information(samples), 0.0),
        std=samples[:, :, af_index].std(axis=0),
    )


@dataclass(frozen=True, eq=False)
class Predictions:
    """Per-window predictions (arrays of length n), never a tuple.

    ``p_af``: mean probability of AF; ``entropy``, ``mutual_info`` (nats) and ``std``
    from the T passes; ``modality`` / ``modality_p``: the modality the window looks
    like and its probability; ``shift_score``: feature-space distance from the
    training windows (1.0 = the 95th percentile of training windows); ``refer``:
    the run's referral rule fired; ``start_s``: window starts in the record. After
    :meth:`with_fused`, ``p_af`` is the network's p(AF) fused with rhythm evidence, the
    network's own is kept in ``p_af_network`` and ``threshold`` is the fusion's.
    """

    p_af: np.ndarray
    entropy: np.ndarray
    mutual_info: np.ndarray
    std: np.ndarray
    modality: np.ndarray
    modality_p: np.ndarray
    shift_score: np.ndarray
    refer: np.ndarray
    start_s: np.ndarray
    threshold: float = 0.5
    p_af_network: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.p_af.size)

    @property
    def decided_by(self) -> str:
        """'network' or 'network+rhythm' (after :meth:`with_fused`)."""
        return "network" if self.p_af_network is None else "network+rhythm"

    def with_fused(self, p_af: np.ndarray, *, threshold: float = 0.5) -> "Predictions":
        """These predictions decided by a fused p(AF) (e.g. :class:`ecgshift.rhythm.RhythmFusion`'s)."""
        p_af = np.asarray(p_af, dtype=float)
        if p_af.shape != self.p_af.shape:
            raise ValueError(f"fused p(AF) has shape {p_af.shape}, predictions {self.p_af.shape}")
        network = self.p_af if self.p_af_network is None else self.p_af_network
        return replace(self, p_af=p_af, threshold=threshold, p_af_network=network)

    def subset(self, keep: np.ndarray) -> "Predictions":
        """The windows selected by ``keep`` (a boolean mask or indices), in that order."""
        arrays = {f.name: getattr(self, f.name)[keep] for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray)}
        return replace(self, **arrays)

    @property
    def label(self) -> np.ndarray:
        """'AF' where p_af ≥ the decision threshold, 'SR' below it, '' where p_af is not a number (a NaN never
        becomes a label; such a window is referred)."""
        return np.where(~np.isfinite(self.p_af), "", np.where(self.p_af >= self.threshold, "AF", "SR"))

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({
            "start_s": self.start_s,
            "p_af": self.p_af,
            "label": self.label,
            "entropy": self.entropy,
            "mutual_info": self.mutual_info,
            "std": self.std,
            "modality": self.modality,
            "modality_p": self.modality_p,
            "shift_score": self.shift_score,
            "refer": self.refer,
            **({} if self.p_af_network is None else {"p_af_network": self.p_af_network}),
        })


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, weights: np.ndarray | None = None) -> float:
    """Temperature T > 0 minimizing the (weighted) NLL of softmax(logits / T) (Guo et al. 2017)."""
    z = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    w = torch.ones(len(y), dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = (nn.functional.cross_entropy(z / log_t.exp(), y, reduction="none") * w).sum() / w.sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(np.clip(log_t.exp().item(), 0.05, 20.0))
