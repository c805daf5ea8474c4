"""Radiology report labeling: observations, graded certainty and CheXpert-style labels.

    from aidemed.reports import ReportLabeler
    labeler = ReportLabeler("chexpert")
    labeler.label("IMPRESSION: Possible left lower lobe pneumonia. No effusion.").labels

See docs/reports.md for the grade scale, the cue classes and the vocabulary format.
"""

from aidemed.reports.aggregate import Mention, ReportLabels, aggregate
from aidemed.reports.grades import GRADE_LABELS, GRADE_SCORES
from aidemed.reports.labeler import ReportLabeler
from aidemed.reports.sections import DEFAULT_SECTIONS, select_sections, split_sections
from aidemed.reports.vocab import BUILTIN_VOCABULARIES, Vocabulary, VocabularyError, load_vocabulary

__all__ = [
    "BUILTIN_VOCABULARIES",
    "DEFAULT_SECTIONS",
    "GRADE_LABELS",
    "GRADE_SCORES",
    "Mention",
    "ReportLabeler",
    "ReportLabels",
    "Vocabulary",
    "VocabularyError",
    "aggregate",
    "load_vocabulary",
    "select_sections",
    "split_sections",
]
