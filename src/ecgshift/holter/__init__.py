"""Holter analysis: a long recording → per-window predictions → AF episodes, burden, review flags.

``analysis`` (the analysis and its decision rule), ``evaluation`` (against reference annotations),
``report`` (episodes.csv, summary.json, the HTML timeline).
"""

from ecgshift.holter.analysis import (
    QUALITY_REASONS,
    WINDOW_COLUMNS,
    HolterConfig,
    HolterConformal,
    HolterEvaluation,
    HolterResult,
    TimeAccount,
    analyse_holter,
    decide,
    evaluate_reference,
    redecide,
    with_conformal,
)

__all__ = ["HolterConfig", "HolterConformal", "HolterResult", "HolterEvaluation", "TimeAccount", "QUALITY_REASONS", "WINDOW_COLUMNS",
           "analyse_holter", "decide", "redecide", "evaluate_reference", "with_conformal"]
