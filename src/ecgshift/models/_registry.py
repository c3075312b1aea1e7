"""Model registry (timm style): ``@register_model`` factories, ``create_model``, ``model_info``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from ecgshift.errors import UnknownNameError

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]

_Factory = TypeVar("_Factory", bound=Callable[..., nn.Module])
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: _Factory) -> _Factory:
    """Register a model factory under its function name; returns it unchanged.

    Registering a different function under a name already taken raises ValueError
    (re-registering the very same function, e.g. on module reload, is accepted).
    """
    name = fn.__name__
    old = _REGISTRY.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
        raise ValueError(f"a model named {name!r} is already registered by {old.__module__}")
    _REGISTRY[name] = fn
    return fn


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered under exactly ``name`` with the keyword arguments of its class.

    Raises KeyError, listing the registered names, when ``name`` is unknown.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("model", name, sorted(_REGISTRY)) from None
    return factory(**kwargs)


@dataclass(frozen=True)
class ModelInfo:
    """Size and cost of a model: parameter count and MFLOPs (1e6 FLOPs) for one window."""

    name: str
    n_params: int
    mflops_per_window: float


def model_info(
    name: str, *, n_leads: int = 1, fs: float = 100.0, window_s: float = 10.0, **kwargs: Any
) -> ModelInfo:
    """Parameter count and forward FLOPs of one window (batch 1, eval mode) of model ``name``.

    FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convs, a
    multiply-add counting as 2); ``kwargs`` go to the model (``n_classes`` defaults to 2).
    """
    kwargs.setdefault("n_classes", 2)
    model = create_model(name, n_leads=n_leads, fs=fs, window_s=window_s, **kwargs).eval()
    n_params = sum(p.numel() for p in model.parameters())
    x = torch.zeros(1, n_leads, round(fs * window_s))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return ModelInfo(name=name, n_params=n_params, mflops_per_window=counter.get_total_flops() / 1e6)
