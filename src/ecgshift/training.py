"""Training: draw the mix → fit (epochs of steps, early stopping) → calibrate → save the run.

:func:`fit` is five named steps — :func:`draw_training_data` → :func:`build_network` → :func:`train_af_network`
→ :func:`calibrate` → :func:`save_training_run` — and one loop, :func:`train_loop` → :func:`run_epoch` →
:func:`train_step`, which trains both the AF network and the modality networks.
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
from ecgshift.checkpoint import Referral, RunConfig, load_run, save_run
from ecgshift.inference import deterministic
from ecgshift.mixing import CLASSES, draw_mix, format_mix
from ecgshift.network import MODALITY_CLASSES, EcgNet, build_net, modality_members
from ecgshift.preprocess import HarmonizeConfig
from ecgshift.shift import FeatureDensity
from ecgshift.uncertainty import entropy, fit_temperature

__all__ = ["TrainConfig", "TrainResult", "TrainingData", "LoopResult", "fit", "draw_training_data", "build_network", "train_af_network",
           "calibrate", "save_training_run", "fit_modality_net", "train_loop", "run_epoch", "train_step"]


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
    #: the user's folder (manifest.csv) the windows came from (``ecgshift train --folder``); None: the public datasets
    folder: str | None = None

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


def train_step(module: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    """One optimizer step on a batch: cross-entropy of ``module(x)`` against ``y`` (AF vs SR for the AF network's
    backbone, the modality for a modality network)."""
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(module(x), y)
    loss.backward()
    optimizer.step()
    return float(loss.item())


def run_epoch(module: nn.Module, optimizer, x: np.ndarray, y: np.ndarray, *, augmenter: Augmenter, batch_size: int, fs: float,
              rng: np.random.Generator, order: np.ndarray | None = None, on_batch: Callable | None = None, ema=None,
              ema_of: nn.Module | None = None) -> float:
    """One pass over ``order`` (default: a permutation of ``len(y)``) in batches of augmented windows; returns the mean
    loss. ``ema`` (a ``torch.optim.swa_utils.AveragedModel`` of ``ema_of``) is updated after every step. The caller
    sets the train mode (see :func:`_train_mode`)."""
    order = rng.permutation(len(y)) if order is None else order
    losses = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if idx.size < 2:
            continue
        xb = augmenter(x[idx], fs, rng)
        losses.append(train_step(module, optimizer, torch.from_numpy(xb), torch.from_numpy(y[idx])))
        if ema is not None:
            ema.update_parameters(ema_of)
        if on_batch:
            on_batch(len(losses))
    return float(np.mean(losses)) if losses else float("nan")


@dataclass(frozen=True, eq=False)
class LoopResult:
    """What :func:`train_loop` gives back: one history row per epoch, the epoch kept and its weights."""

    history: list[dict]
    best_epoch: int
    best_state: dict | None


def train_loop(*, epochs: int, one_epoch: Callable[[int], float], scheduler, validate: Callable[[], dict] | None = None,
               evaluated: Callable[[], nn.Module] | None = None, patience: int | None = None,
               on_epoch: Callable[[int, dict], None] | None = None) -> LoopResult:
    """Epochs of ``one_epoch(epoch) -> loss`` with a scheduler step after each; with ``validate`` (→ a row holding
    ``val_score``, lower is better), early stopping after ``patience`` epochs without improvement, keeping the weights
    of ``evaluated()`` (the EMA average when there is one) from the best epoch. Without ``validate`` every epoch runs
    and the last weights are kept (``best_state`` None). The AF network and the modality networks both train here."""
    history, best, best_state, bad = [], np.inf, None, 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        loss = one_epoch(epoch)
        scheduler.step()
        row = {"epoch": epoch, "train_loss": loss, **(validate() if validate else {}), "lr": scheduler.get_last_lr()[0],
               "seconds": time.perf_counter() - t0}
        history.append(row)
        if on_epoch:
            on_epoch(epoch, row)
        if validate is None:
            continue
        if row["val_score"] < best - 1e-4:
            best, best_state, bad = row["val_score"], copy.deepcopy(evaluated().state_dict()), 0
        else:
            bad += 1
            if patience is not None and bad >= patience:
                break
    best_epoch = int(min(history, key=lambda r: r["val_score"])["epoch"]) if validate and history else len(history)
    return LoopResult(history, best_epoch, best_state)


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

    def one_epoch(epoch: int) -> float:
        model.train()
        return run_epoch(model, optimizer, x, modality, augmenter=augmenter, batch_size=batch_size, fs=fs, rng=rng,
                         order=rng.permutation(index))

    train_loop(epochs=epochs, one_epoch=one_epoch, scheduler=scheduler)
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


@dataclass(frozen=True, eq=False)
class TrainingData:
    """The drawn training windows (``x``, AF labels ``y``, modality codes ``m``), the pools they were drawn from, which
    pool windows any epoch's draw used (``seen``), and the validation windows per modality (AF vs SR only)."""

    mix: dict[str, float]
    pools: dict[str, WindowSet]
    labels: dict[str, np.ndarray]
    draw: object
    x: np.ndarray
    y: np.ndarray
    m: np.ndarray
    seen: dict[str, np.ndarray]
    val: dict[str, tuple[np.ndarray, np.ndarray]]
    harmonize: HarmonizeConfig

    def redraw(self, config: TrainConfig, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A fresh class-balanced draw for ``epoch`` (same budget and shares); marks its windows as seen."""
        epoch_draw = draw_mix(self.labels, self.mix, budget=config.budget, seed=config.seed + 1000 * epoch, class_shares=config.class_shares)
        for k, v in epoch_draw.indices.items():
            self.seen[k][v] = True
        return _stack(self.pools, epoch_draw.indices)


def draw_training_data(config: TrainConfig, sets: dict[str, WindowSet]) -> TrainingData:
    """Step 1: the ``train`` split drawn with ``config.mix`` and the ``val`` split of the same modalities."""
    mix = {k: v for k, v in config.mix.items() if v > 0}
    missing = [m for m in mix if m not in sets]
    if missing:
        raise ValueError(f"no windows given for modalities {missing}")
    harmonize = next(iter(sets.values())).config
    pools = {m: sets[m].split("train") for m in mix}
    labels = {m: s.table.label.to_numpy() for m, s in pools.items()}
    draw = draw_mix(labels, mix, budget=config.budget, seed=config.seed, class_shares=config.class_shares)
    x, y, m = _stack(pools, draw.indices)
    seen = {k: np.zeros(v.size, bool) for k, v in labels.items()}  # windows drawn in any epoch
    for k, v in draw.indices.items():
        seen[k][v] = True
    val = {}
    for modality in mix:
        vs = sets[modality].split("val")
        vs = vs.subset(vs.table.label.isin(CLASSES).to_numpy())  # validation measures the task: AF vs SR
        val[modality] = (np.asarray(vs.x, np.float32), (vs.table.label.to_numpy() == "AF").astype(np.int64))
    return TrainingData(mix, pools, labels, draw, x, y, m, seen, val, harmonize)


def build_network(config: TrainConfig, harmonize: HarmonizeConfig) -> tuple[EcgNet, dict]:
    """Step 2: the network to train (``--init``: that run's, which must match model and harmonization) and the
    model kwargs it was built with."""
    if config.init:
        net, init_config, _ = load_run(config.init)
        if init_config.model != config.model:
            raise ValueError(f"--init run uses model {init_config.model!r}, not {config.model!r}")
        if init_config.harmonize != harmonize:
            raise ValueError(f"--init run was trained on windows harmonized as {init_config.harmonize.to_dict()}, not {harmonize.to_dict()}")
        net.train()
        model_kwargs = init_config.model_kwargs  # the network trained is the init run's, whatever config asks
    else:
        model_kwargs = config.model_kwargs
        net = build_net(config.model, fs=harmonize.fs, window_s=harmonize.window_s, modality_members=config.modality_members, **model_kwargs)
    if config.freeze_trunk:
        _freeze_trunk(net)
    return net, dict(model_kwargs)


def train_af_network(net: EcgNet, data: TrainingData, config: TrainConfig, *, on_epoch=None, on_batch=None) -> LoopResult:
    """Step 3: the AF network's epochs (fresh draw per epoch with ``redraw``, EMA weights with ``ema_decay``), early
    stopped on the mix-weighted balanced validation NLL; ``net`` ends with the best epoch's weights, in eval mode."""
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs))
    ema = _ema(net, config.ema_decay)
    rng = np.random.default_rng(config.seed)
    augmenter = Augmenter(config.augment)
    current = {"xym": (data.x, data.y, data.m)}
    n_batches = int(np.ceil(len(data.y) / config.batch_size))

    def one_epoch(epoch: int) -> float:
        if config.redraw and epoch > 1:
            current["xym"] = data.redraw(config, epoch)
        x, y, _ = current["xym"]
        _train_mode(net, freeze_trunk=config.freeze_trunk)
        return run_epoch(net.backbone, optimizer, x, y, augmenter=augmenter, batch_size=config.batch_size, fs=data.harmonize.fs, rng=rng,
                         on_batch=(lambda b: on_batch(b, n_batches)) if on_batch else None, ema=ema, ema_of=net)

    def evaluated() -> nn.Module:
        return ema.module if ema is not None else net

    loop = train_loop(epochs=config.epochs, one_epoch=one_epoch, scheduler=scheduler, validate=lambda: _validate(evaluated(), data.val, data.mix),
                      evaluated=evaluated, patience=config.patience, on_epoch=on_epoch)
    net.load_state_dict(loop.best_state)
    net.eval()
    return loop


def calibrate(net: EcgNet, data: TrainingData, config: TrainConfig) -> tuple[float, Referral, FeatureDensity, FeatureDensity]:
    """Step 4, after the AF trunk is final: the modality networks (on every training window any draw used), the
    temperature (on validation, mix-weighted), the shift-score densities (on training features) and the referral
    rule (validation entropy quantile, 99th percentile of validation shift)."""
    val_x = np.concatenate([v[0] for v in data.val.values()])
    val_y = np.concatenate([v[1] for v in data.val.values()])
    val_w = np.concatenate([np.full(len(v[1]), data.mix[k] / max(1, len(v[1]))) for k, v in data.val.items()])
    ux, uy, um = _stack(data.pools, {k: np.flatnonzero(v) for k, v in data.seen.items()})
    fit_modality_net(net, ux, um, seed=config.seed, fs=data.harmonize.fs)  # one pass below gives both networks' features
    val_pass, train_pass = deterministic(net, val_x), deterministic(net, ux)
    temperature = fit_temperature(val_pass.logits, val_y, weights=val_w)
    density = FeatureDensity().fit(train_pass.features, uy)
    modality_density = FeatureDensity().fit(train_pass.modality_features, um)
    val_entropy = entropy(torch.softmax(torch.from_numpy(val_pass.logits) / temperature, -1).numpy())
    val_shift = modality_density.score(val_pass.modality_features)
    referral = Referral(entropy=float(np.quantile(val_entropy, 1 - config.referral_rate)),
                        shift_score=float(np.quantile(val_shift, 0.99)), rate=config.referral_rate)
    return temperature, referral, density, modality_density


def fit(
    config: TrainConfig,
    sets: dict[str, WindowSet],
    *,
    run_dir: str | Path,
    on_epoch: Callable[[int, dict], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train on the ``train`` split drawn with ``config.mix``; early-stop on the ``val`` split of the same modalities:
    draw → build → train loop → calibrate → save."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    torch.manual_seed(config.seed)
    data = draw_training_data(config, sets)
    net, model_kwargs = build_network(config, data.harmonize)
    loop = train_af_network(net, data, config, on_epoch=on_epoch, on_batch=on_batch)
    temperature, referral, density, modality_density = calibrate(net, data, config)
    counts = data.draw.table()
    if config.redraw:  # windows seen over all epochs' draws
        counts["drawn_unique"] = [int(np.sum(data.seen[c.modality] & (data.labels[c.modality] == c.label))) for c in counts.itertuples()]
    run_config = RunConfig(
        model=config.model, harmonize=data.harmonize, model_kwargs=model_kwargs, modality_members=len(modality_members(net)),
        classes=tuple(CLASSES), modality_classes=tuple(MODALITY_CLASSES), mix=format_mix(data.mix), train=config.to_dict(),
        temperature=temperature, referral=referral, best_epoch=loop.best_epoch, counts=tuple(counts.to_dict("records")),
        val_counts={k: {"AF": int(v[1].sum()), "SR": int((v[1] == 0).sum())} for k, v in data.val.items()}, torch=torch.__version__,
    )
    history = pd.DataFrame(loop.history)
    save_training_run(run_dir, net, run_config, density=density, modality_density=modality_density, history=loop.history, counts=counts)
    return TrainResult(run_dir, history, loop.best_epoch, counts, temperature, time.perf_counter() - started)


def save_training_run(run_dir: Path, net: EcgNet, run_config: RunConfig, *, density: FeatureDensity, modality_density: FeatureDensity,
                      history: list[dict], counts: pd.DataFrame) -> None:
    """Step 5: weights + densities (safetensors), config.json, and the logs (history.csv/json, counts.csv)."""
    stored = {**density.to_tensors(), **modality_density.to_tensors("modality_density")}
    tensors = {k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in stored.items()}
    save_run(run_dir, net, run_config, extra_tensors=tensors)
    pd.DataFrame(history).to_csv(run_dir / "history.csv", index=False)
    counts.to_csv(run_dir / "counts.csv", index=False)
    (run_dir / "history.json").write_text(json.dumps(history, indent=2))
