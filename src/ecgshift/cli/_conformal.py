"""The --alpha / --max-referral checks that ``predict`` and ``holter`` share: one-line usage errors."""

from __future__ import annotations

from ecgshift.errors import EcgShiftError

__all__ = ["check_conformal_options", "require_conformal"]


def check_conformal_options(alpha, max_referral) -> None:
    """--alpha in (0, 1), --max-referral in [0, 1] and only with --alpha."""
    from ecgshift.conformal import check_alpha, check_budget

    try:
        if alpha is not None:
            check_alpha(alpha)
        if max_referral is not None:
            check_budget(max_referral)
    except ValueError as exc:
        raise EcgShiftError(str(exc)) from None
    if max_referral is not None and alpha is None:
        raise EcgShiftError("--max-referral needs --alpha (the guarantee whose referrals it budgets)")


def require_conformal(model) -> None:
    """A model without conformal calibration cannot apply --alpha: one line naming it and the way to calibrate."""
    if model.conformal is None:
        raise EcgShiftError(f"{model.source}: this model has no conformal calibration (no conformal.json; write one with "
                            "`python scripts/conformal_calibrate.py --model DIR`), so --alpha cannot be applied")
