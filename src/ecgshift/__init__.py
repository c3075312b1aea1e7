"""ecgshift: atrial-fibrillation detection across ECG modalities, with uncertainty that flags domain shift."""

from ecgshift.errors import BadInputError, EcgShiftError, ModelFileError, UnknownNameError
from ecgshift.record import LABELS, MODALITIES, Beats, Record, RhythmInterval

__version__ = "0.1.0"

__all__ = [
    "BadInputError",
    "Beats",
    "EcgShiftError",
    "LABELS",
    "MODALITIES",
    "ModelFileError",
    "Record",
    "RhythmInterval",
    "UnknownNameError",
    "__version__",
]
