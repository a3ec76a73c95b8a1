"""Pure analytics over frames and arrays: agreement (Krippendorff's alpha) and its intervals."""

from app.analytics.agreement import (
    AlphaResult,
    CoincidenceTable,
    EncodedRatings,
    alpha_from_frame,
    coincidence_table,
    encode_ratings,
    krippendorff_alpha,
    masi_alpha,
    masi_distance,
    one_vs_rest,
)
from app.analytics.bootstrap import bootstrap_alpha
from app.analytics.coincidence import LEVELS, Level

__all__ = [
    "LEVELS",
    "AlphaResult",
    "CoincidenceTable",
    "EncodedRatings",
    "Level",
    "alpha_from_frame",
    "bootstrap_alpha",
    "coincidence_table",
    "encode_ratings",
    "krippendorff_alpha",
    "masi_alpha",
    "masi_distance",
    "one_vs_rest",
]
