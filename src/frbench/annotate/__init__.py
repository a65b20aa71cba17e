"""Subject annotations estimated from pixels or mapped from labels: skin tone by ITA or the calibrated estimator, annotators' labels first."""

from frbench.annotate.ita import ItaOptions, ItaResult, estimate_ita, estimate_ita_images, subject_ita
from frbench.annotate.skin_tone import (
    annotate_skin_tone,
    binary_from_fitzpatrick,
    binary_from_ita_category,
    binary_from_monk,
    ita_category,
)

__all__ = [
    "ItaOptions",
    "ItaResult",
    "annotate_skin_tone",
    "binary_from_fitzpatrick",
    "binary_from_ita_category",
    "binary_from_monk",
    "estimate_ita",
    "estimate_ita_images",
    "ita_category",
    "subject_ita",
]
