"""Model zoo: small 1-D ECG classifiers (atrial fibrillation vs sinus rhythm), cheap on CPU.

Every model takes ``(n_leads, n_classes, fs, window_s, *, dropout, dropout_placement, width)``,
maps (batch, n_leads, n_samples) windows to (batch, n_classes) logits through
``forward_features`` (the trunk) and ``forward_head`` (``head``, which starts with
``nn.Dropout``), and is built by name::

    model = create_model("resnet1d", n_leads=1, n_classes=2, fs=100.0, window_s=10.0)
"""

from __future__ import annotations

from ecgshift.models._registry import ModelInfo, create_model, list_models, model_info, register_model
from ecgshift.models.crnn import CRNN
from ecgshift.models.resnet1d import ResNet1d
from ecgshift.models.transformer import ConvTransformer

__all__ = [
    "CRNN",
    "ConvTransformer",
    "ModelInfo",
    "ResNet1d",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
]
