"""Inference speed on this machine: windows/s for a single deterministic pass, full MC Dropout (T=20)
and the fast head-only MC path (T=20), their ratios, and how closely the fast path's uncertainty
tracks full MC Dropout on real test windows.

    python benchmarks/inference.py [--model RUN] [--n 2000] [--T 20]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import modality_windows, parser  # noqa: E402

from ecgshift.inference import deterministic, mc_passes  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402
from ecgshift.uncertainty import summarize_samples  # noqa: E402


def _timed(fn, repeats: int = 3):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--T", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    sets = modality_windows(args)
    rng = np.random.default_rng(0)
    x = np.concatenate([np.asarray(ws.split("test").x) for ws in sets.values()])
    x = x[rng.choice(len(x), size=min(args.n, len(x)), replace=False)]
    n = len(x)
    # interleaved rounds, so that load from other processes hits every path alike; ratios are per round
    rounds = {"det": [], "full": [], "fast": []}
    full = fast = None
    for _ in range(args.rounds):
        rounds["det"].append(_timed(lambda: deterministic(model.net, x), repeats=1)[0])
        t, fast = _timed(lambda: mc_passes(model.net, x, mc=args.T, mc_scope="head", temperature=model.temperature), repeats=1)
        rounds["fast"].append(t)
        torch.manual_seed(0)
        t, full = _timed(lambda: mc_passes(model.net, x, mc=args.T, mc_scope="full", temperature=model.temperature), repeats=1)
        rounds["full"].append(t)
    t_det, t_full, t_fast = (float(np.median(rounds[k])) for k in ("det", "full", "fast"))
    ratio_fast = float(np.median(np.array(rounds["fast"]) / np.array(rounds["det"])))
    ratio_full = float(np.median(np.array(rounds["full"]) / np.array(rounds["det"])))
    a, b = summarize_samples(full.samples), summarize_samples(fast.samples)
    placement = model.config.model_kwargs.get("dropout_placement")
    print(f"model: {model}; dropout placement: {placement}; {n} real test windows; {args.threads} threads")
    print(f"median of {args.rounds} interleaved rounds (load average {__import__('os').getloadavg()[0]:.1f})")
    print(f"{'path':<28}{'seconds':>9}{'windows/s':>12}{'× single pass':>15}")
    for name, t, ratio in (("single deterministic pass", t_det, 1.0), (f"full MC Dropout T={args.T}", t_full, ratio_full), (f"fast head-only MC T={args.T}", t_fast, ratio_fast)):
        print(f"{name:<28}{t:>9.2f}{n / t:>12.0f}{ratio:>15.2f}")
    print(f"\nfull MC / fast path speed-up: {t_full / t_fast:.1f}×")
    print("fast path vs full MC Dropout (same windows):")
    for name in ("p_af", "entropy", "mutual_info"):
        u, v = getattr(a, name), getattr(b, name)
        r = np.corrcoef(u, v)[0, 1] if u.std() > 0 and v.std() > 0 else float("nan")
        rho = np.corrcoef(np.argsort(np.argsort(u)), np.argsort(np.argsort(v)))[0, 1]
        print(f"  {name:<12} Pearson r {r:.3f}  Spearman ρ {rho:.3f}  mean |diff| {np.mean(np.abs(u - v)):.4f}  (full mean {u.mean():.4f}, fast mean {v.mean():.4f})")
    agree = np.mean((a.p_af >= 0.5) == (b.p_af >= 0.5))
    print(f"  AF/SR decisions agree on {agree:.1%} of windows")


if __name__ == "__main__":
    main()
