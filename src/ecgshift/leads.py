"""Lead names: one spelling per lead, whatever the file wrote."""

from __future__ import annotations

import re

__all__ = ["STANDARD_LEADS", "normalize_lead_name", "is_ecg_lead"]

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_CANONICAL = {name.lower(): name for name in STANDARD_LEADS}
_CANONICAL.update({"mli": "MLI", "mlii": "MLII", "mliii": "MLIII", "ecg": "ECG"})
_CANONICAL.update({f"ml{i}": f"ML{i}" for i in ("avr", "avl", "avf")})
_PREFIX = re.compile(r"^(ecg|ekg)[\s_\-:]*(?=\S)", re.IGNORECASE)
_MODIFIED_CHEST = re.compile(r"^mv(\d)$", re.IGNORECASE)


def normalize_lead_name(name: str) -> str:
    """Return the canonical spelling of a lead name.

    ``"AVR" -> "aVR"``, ``"ECG II" -> "II"``, ``"mlii" -> "MLII"``, ``"MV1" -> "V1"``;
    a name that is not a known lead is returned stripped, otherwise unchanged.

    >>> [normalize_lead_name(n) for n in ["AVR", "EKG II", "mlii", "ECG", "Resp"]]
    ['aVR', 'II', 'MLII', 'ECG', 'Resp']
    """
    text = str(name).strip().replace("\x00", "")
    key = text.lower()
    if key in _CANONICAL:
        return _CANONICAL[key]
    bare = _PREFIX.sub("", text).strip()
    if bare.lower() in _CANONICAL:
        return _CANONICAL[bare.lower()]
    chest = _MODIFIED_CHEST.match(bare)
    if chest:
        return f"V{chest.group(1)}"
    return text


def is_ecg_lead(name: str) -> bool:
    """True for a canonical ECG lead name, or a channel whose name says ECG/EKG."""
    canonical = normalize_lead_name(name)
    if canonical in _CANONICAL.values():
        return True
    return bool(re.search(r"ecg|ekg", str(name), re.IGNORECASE))
