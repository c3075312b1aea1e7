"""Training: draw the mix → fit (epochs of steps, early stopping) → calibrate → save the run.

The loop is small and readable: :func:`fit` → :func:`run_epoch` → :func:`train_step`.
Everything random flows from ``TrainConfig.seed`` (numpy Generator + torch.manual_seed),
so a run is reproducible on the same machine.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecgshift.augment import AugmentConfig, Augmenter
from ecgshift.cache import WindowSet
from ecgshift.checkpoint import load_run, save_run
from ecgshift.inference import deterministic
from ecgshift.mixing import CLASSES, draw_mix, format_mix
from ecgshift.network import MODALITY_CLASSES, EcgNet, build_net, modality_members
from ecgshift.preprocess import HarmonizeConfig
from ecgshift.shift import FeatureDensity
from ecgshift.uncertainty import entropy, fit_temperature

__all__ = ["TrainConfig", "TrainResult", "fit", "fit_modality_net", "run_epoch", "train_step"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (stored in the run's config.json)."""

    mix: dict
    budget: int = 12_000
    model: str = "resnet1d"
    model_kwargs: dict = field(default_factory=lambda: {"dropout": 0.3, "dropout_placement": "head"})
    epochs: int = 25
    patience: int = 5
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-2
    seed: int = 0
    augment: AugmentConfig = AugmentConfig()
    init: str | None = None
    freeze_trunk: bool = False
    referral_rate: float = 0.1
    class_shares: dict = field(default_factory=lambda: {"SR": 0.5, "AF": 0.5})
    #: draw a fresh class-balanced mix every epoch (same budget and shares), so a large pool (e.g.
    #: CinC sinus windows) is seen whole over the epochs instead of one fixed subset
    redraw: bool = False
    #: exponential moving average of the weights (decay per step; None = off); validation, early
    #: stopping and the saved model use the averaged weights
    ema_decay: float | None = None
    #: modality networks trained from seeds seed + 1, seed + 2, … (:class:`ecgshift.network.ModalityEnsemble`)
    modality_members: int = 3

    def to_dict(self) -> dict:
        out = asdict(self)
        out["augment"] = self.augment.to_dict()
        return out


@dataclass(frozen=True, eq=False)
class TrainResult:
    run_dir: Path
    history: pd.DataFrame
    best_epoch: int
    counts: pd.DataFrame
    temperature: float
    seconds: float


def _stack(sets: dict[str, WindowSet], indices: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ms = [], [], []
    for modality, idx in indices.items():
        ws = sets[modality]
        xs.append(np.asarray(ws.x[idx], np.float32))
        ys.append((ws.table.label.to_numpy()[idx] == "AF").astype(np.int64))
        ms.append(np.full(idx.size, MODALITY_CLASSES.index(modality), np.int64))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ms)


def train_step(net: EcgNet, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> float:
    """One optimizer step on a batch: AF cross-entropy. (The modality head is fitted after training,
    after training: see :func:`fit_modality_net`; ``m`` is unused here.)"""
    optimizer.zero_grad(set_to_none=True)
    logits = net.backbone(x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    optimizer.step()
    return float(loss.item())


def run_epoch(net: EcgNet, optimizer, x: np.ndarray, y: np.ndarray, m: np.ndarray, *, config: TrainConfig, fs: float, rng: np.random.Generator, on_batch: Callable | None = None, ema=None) -> float:
    """One pass over the (augmented) training draw in shuffled batches; returns the mean loss.
    ``ema`` (a ``torch.optim.swa_utils.AveragedModel``) is updated after every step."""
    _train_mode(net, freeze_trunk=config.freeze_trunk)
    augmenter = Augmenter(config.augment)
    order = rng.permutation(len(y))
    losses = []
    for start in range(0, len(order), config.batch_size):
        idx = order[start : start + config.batch_size]
        if idx.size < 2:
            continue
        xb = augmenter(x[idx], fs, rng)
        losses.append(train_step(net, optimizer, torch.from_numpy(xb), torch.from_numpy(y[idx]), torch.from_numpy(m[idx])))
        if ema is not None:
            ema.update_parameters(net)
        if on_batch:
            on_batch(len(losses))
    return float(np.mean(losses)) if losses else float("nan")


def _validate(net: EcgNet, val: dict[str, tuple[np.ndarray, np.ndarray]], mix: dict[str, float]) -> dict:
    """Per-modality class-balanced NLL and balanced accuracy on validation; ``score`` = mix-weighted
    balanced NLL (lower is better; balanced because AF is the minority in every validation split)."""
    out, score = {}, 0.0
    for modality, (x, y) in val.items():
        logits = deterministic(net, x).logits
        losses = nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y), reduction="none").numpy()
        nll = float(np.mean([losses[y == c].mean() for c in (0, 1) if np.any(y == c)]))
        pred = logits.argmax(1)
        bacc = float(np.mean([np.mean(pred[y == c] == c) for c in (0, 1) if np.any(y == c)]))
        out[f"val_nll_{modality}"] = nll
        out[f"val_bacc_{modality}"] = bacc
        score += mix[modality] * nll
    out["val_score"] = score
    return out


def _train_mode(net: EcgNet, *, freeze_trunk: bool) -> None:
    """Train mode; a frozen trunk stays in eval mode (its BatchNorm statistics are part of what is frozen)."""
    net.train()
    if freeze_trunk:
        for name, child in net.backbone.named_children():
            if name != "head":
                child.eval()


def fit_modality_net(net: EcgNet, x: np.ndarray, modality: np.ndarray, *, seed: int, fs: float = 100.0, epochs: int = 8, batch_size: int = 128, lr: float = 3e-3) -> None:
    """Train the modality model (3 classes) on unique training windows, class-balanced by resampling;
    member k of an ensemble from seed ``seed + 1 + k``.

    Augmentation is limited to time shift and polarity: noise, wander and bandwidth are exactly the
    cues that tell devices apart. Modalities absent from training are never targets.
    """
    for k, member in enumerate(modality_members(net)):
        _fit_modality_member(member, x, modality, seed=seed + 1 + k, fs=fs, epochs=epochs, batch_size=batch_size, lr=lr)


def _fit_modality_member(model: nn.Module, x: np.ndarray, modality: np.ndarray, *, seed: int, fs: float, epochs: int, batch_size: int, lr: float) -> None:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    present = np.unique(modality)
    per_class = max(int(np.bincount(modality).max()), 1)
    index = np.concatenate([rng.choice(np.flatnonzero(modality == c), size=per_class, replace=True) for c in present])
    augmenter = Augmenter(AugmentConfig(noise=0.0, baseline=0.0, scale=0.0, shift=0.5, invert=0.3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for _ in range(epochs):
        model.train()
        order = rng.permutation(index)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            if idx.size < 2:
                continue
            xb = torch.from_numpy(augmenter(x[idx], fs, rng))
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xb), torch.from_numpy(modality[idx])).backward()
            optimizer.step()
        scheduler.step()
    model.eval()


def _ema(net: EcgNet, decay: float | None):
    """An exponential moving average of ``net``'s weights and BatchNorm buffers (torch's AveragedModel), or None."""
    if decay is None:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _freeze_trunk(net: EcgNet) -> None:
    for name, param in net.backbone.named_parameters():
        if not name.startswith("head."):
            param.requires_grad_(False)


def fit(
    config: TrainConfig,
    sets: dict[str, WindowSet],
    *,
    run_dir: str | Path,
    on_epoch: Callable[[int, dict], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train on the ``train`` split drawn with ``config.mix``; early-stop on the ``val`` split of the same modalities."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    mix = {k: v for k, v in config.mix.items() if v > 0}
    missing = [m for m in mix if m not in sets]
    if missing:
        raise ValueError(f"no windows given for modalities {missing}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    harmonize = next(iter(sets.values())).config
    train_sets = {m: sets[m].split("train") for m in mix}
    train_labels = {m: s.table.label.to_numpy() for m, s in train_sets.items()}
    draw = draw_mix(train_labels, mix, budget=config.budget, seed=config.seed, class_shares=config.class_shares)
    x, y, m = _stack(train_sets, draw.indices)
    seen = {k: np.zeros(labels.size, bool) for k, labels in train_labels.items()}  # windows drawn in any epoch
    for k, v in draw.indices.items():
        seen[k][v] = True
    val = {}
    for modality in mix:
        vs = sets[modality].split("val")
        vs = vs.subset(vs.table.label.isin(CLASSES).to_numpy())  # validation measures the task: AF vs SR
        val[modality] = (np.asarray(vs.x, np.float32), (vs.table.label.to_numpy() == "AF").astype(np.int64))

    model_kwargs = config.model_kwargs
    if config.init:
        net, init_config, _ = load_run(config.init)
        if init_config["model"] != config.model:
            raise ValueError(f"--init run uses model {init_config['model']!r}, not {config.model!r}")
        if HarmonizeConfig.from_dict(init_config["harmonize"]) != harmonize:
            raise ValueError(f"--init run was trained on windows harmonized as {init_config['harmonize']}, not {harmonize.to_dict()}")
        model_kwargs = init_config.get("model_kwargs", {})  # the network trained is the init run's, whatever config asks
        net.train()
    else:
        net = build_net(config.model, fs=harmonize.fs, window_s=harmonize.window_s, modality_members=config.modality_members, **model_kwargs)
    if config.freeze_trunk:
        _freeze_trunk(net)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs))
    ema = _ema(net, config.ema_decay)
    history, best, best_state, bad = [], np.inf, None, 0
    n_batches = int(np.ceil(len(y) / config.batch_size))
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        if config.redraw and epoch > 1:
            epoch_draw = draw_mix(train_labels, mix, budget=config.budget, seed=config.seed + 1000 * epoch, class_shares=config.class_shares)
            x, y, m = _stack(train_sets, epoch_draw.indices)
            for k, v in epoch_draw.indices.items():
                seen[k][v] = True
        loss = run_epoch(net, optimizer, x, y, m, config=config, fs=harmonize.fs, rng=rng, on_batch=(lambda b: on_batch(b, n_batches)) if on_batch else None, ema=ema)
        scheduler.step()
        evaluated = ema.module if ema is not None else net
        row = {"epoch": epoch, "train_loss": loss, **_validate(evaluated, val, mix), "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - t0}
        history.append(row)
        if on_epoch:
            on_epoch(epoch, row)
        if row["val_score"] < best - 1e-4:
            best, best_state, bad = row["val_score"], copy.deepcopy(evaluated.state_dict()), 0
        else:
            bad += 1
            if bad >= config.patience:
                break
    net.load_state_dict(best_state)
    net.eval()
    best_epoch = int(min(history, key=lambda r: r["val_score"])["epoch"])
    history_frame = pd.DataFrame(history)

    # calibration and shift statistics, all fitted on data the optimizer never used for gradients except `train` features
    val_x = np.concatenate([v[0] for v in val.values()])
    val_y = np.concatenate([v[1] for v in val.values()])
    val_w = np.concatenate([np.full(len(v[1]), mix[k] / max(1, len(v[1]))) for k, v in val.items()])
    ux, uy, um = _stack(train_sets, {k: np.flatnonzero(v) for k, v in seen.items()})
    fit_modality_net(net, ux, um, seed=config.seed, fs=harmonize.fs)  # the AF trunk is final: one pass below gives both networks' features
    val_pass, train_pass = deterministic(net, val_x), deterministic(net, ux)
    temperature = fit_temperature(val_pass.logits, val_y, weights=val_w)
    density = FeatureDensity().fit(train_pass.features, uy)
    modality_density = FeatureDensity().fit(train_pass.modality_features, um)
    val_probs = torch.softmax(torch.from_numpy(val_pass.logits) / temperature, -1).numpy()
    val_entropy = entropy(val_probs)
    val_shift = modality_density.score(val_pass.modality_features)
    referral = {
        "entropy": float(np.quantile(val_entropy, 1 - config.referral_rate)),
        "shift_score": float(np.quantile(val_shift, 0.99)),
        "rate": config.referral_rate,
    }
    counts = draw.table()
    if config.redraw:  # windows seen over all epochs' draws
        counts["drawn_unique"] = [int(np.sum(seen[c.modality] & (train_labels[c.modality] == c.label))) for c in counts.itertuples()]
    run_config = {
        "model": config.model,
        "model_kwargs": model_kwargs,
        "modality_members": len(modality_members(net)),
        "harmonize": harmonize.to_dict(),
        "classes": list(CLASSES),
        "modality_classes": list(MODALITY_CLASSES),
        "mix": format_mix(mix),
        "train": config.to_dict(),
        "temperature": temperature,
        "referral": referral,
        "best_epoch": best_epoch,
        "counts": counts.to_dict("records"),
        "val_counts": {k: {"AF": int(v[1].sum()), "SR": int((v[1] == 0).sum())} for k, v in val.items()},
        "torch": torch.__version__,
    }
    stored = {**density.to_tensors(), **modality_density.to_tensors("modality_density")}
    tensors = {k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in stored.items()}
    save_run(run_dir, net, run_config, extra_tensors=tensors)
    history_frame.to_csv(run_dir / "history.csv", index=False)
    counts.to_csv(run_dir / "counts.csv", index=False)
    (run_dir / "history.json").write_text(json.dumps(history, indent=2))
    return TrainResult(run_dir, history_frame, best_epoch, counts, temperature, time.perf_counter() - started)
