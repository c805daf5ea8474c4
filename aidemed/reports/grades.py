"""The certainty scale: what each grade means, its probability-like score and its CheXpert label.

The scores are calibrated by convention, not fitted: they say how strongly the wording commits
the radiologist to the finding being present, so they order correctly (a positive mention beats
an uncertain one, which beats a negative one) and can be used directly as soft labels.
"""

from __future__ import annotations

DEFINITE = "definite"
PROBABLE = "probable"
POSSIBLE = "possible"
CANNOT_EXCLUDE = "cannot_exclude"
UNLIKELY = "unlikely"
NEGATED = "negated"

# grade -> probability-like score that the finding is present
GRADE_SCORES: dict[str, float] = {
    DEFINITE: 1.0,
    PROBABLE: 0.75,
    POSSIBLE: 0.5,
    CANNOT_EXCLUDE: 0.3,
    UNLIKELY: 0.15,
    NEGATED: 0.0,
}

# CheXpert convention: 1 positive, 0 negative, -1 uncertain (every hedge, in either direction).
POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1
GRADE_LABELS: dict[str, int] = {
    DEFINITE: POSITIVE,
    PROBABLE: UNCERTAIN,
    POSSIBLE: UNCERTAIN,
    CANNOT_EXCLUDE: UNCERTAIN,
    UNLIKELY: UNCERTAIN,
    NEGATED: NEGATIVE,
}

# Report-level precedence of labels: positive beats uncertain beats negative.
LABEL_RANK = {POSITIVE: 2, UNCERTAIN: 1, NEGATIVE: 0}


def score_of(grade: str) -> float:
    return GRADE_SCORES[grade]


def label_of(grade: str) -> int:
    return GRADE_LABELS[grade]


def cap_grade(grade: str, ceiling: str) -> str:
    """The weaker of two grades (by score), e.g. a hedged mention is at most `possible`."""
    return grade if GRADE_SCORES[grade] <= GRADE_SCORES[ceiling] else ceiling
