"""Report-level labels from mention grades, in CheXpert semantics.

For each observation: positive (1) beats uncertain (-1), which beats negative (0); an observation
without any mention is blank (None). The graded score is the highest mention score, which is
consistent with that precedence because the grade scores are ordered the same way (1.0 for a
definite mention, strictly between 0 and 1 for a hedge, 0.0 for a negation).

No Finding is 1 only when no observation other than the ignored ones (Support Devices for
CheXpert), and no "other finding", is positive or uncertain; otherwise it is blank, never 0 (the
CheXpert convention). Its score is 1 minus the highest score of those mentions, i.e. the chance
that nothing is there if the strongest hint were the only one. An empty report is blank throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aidemed.reports.grades import LABEL_RANK, NEGATIVE, POSITIVE
from aidemed.reports.vocab import OTHER_INDEX, Vocabulary


@dataclass(slots=True)
class Mention:
    """One graded mention of an observation, with its evidence."""

    observation: str  # observation name, or "" for an "other finding"
    index: int  # observation index in the vocabulary, OTHER_INDEX for an other finding
    kind: str  # finding | anatomy | hedged | implied | other
    text: str  # the mention as written
    start: int  # character offsets in the report (or in its column, see `section`)
    end: int
    section: str
    sentence: str
    sentence_start: int
    grade: str
    score: float
    label: int
    cue: str | None = None  # the cue phrase that decided the grade, None for a plain positive
    cue_start: int | None = None
    cue_end: int | None = None

    def as_dict(self) -> dict:
        return {
            "observation": self.observation or "(other finding)",
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "section": self.section,
            "sentence": self.sentence,
            "sentence_start": self.sentence_start,
            "kind": self.kind,
            "grade": self.grade,
            "score": self.score,
            "label": self.label,
            "cue": self.cue,
            "cue_start": self.cue_start,
            "cue_end": self.cue_end,
        }


@dataclass(slots=True)
class ReportLabels:
    """Labels of one report: `labels[name]` in {1, 0, -1, None}, `scores[name]` in [0, 1] or None."""

    labels: dict
    scores: dict
    mentions: list = field(default_factory=list)
    empty: bool = False

    def as_dict(self, evidence: bool = True) -> dict:
        out = {"labels": self.labels, "scores": self.scores}
        if evidence:
            out["mentions"] = [m.as_dict() for m in self.mentions]
        return out


def aggregate(vocab: Vocabulary, mentions: list, empty: bool) -> ReportLabels:
    names = vocab.names
    best_label: list = [None] * len(names)
    best_score: list = [None] * len(names)
    worst_other = None  # highest score among mentions that count against No Finding
    ignored = {names.index(n) for n in vocab.no_finding_ignores}
    for m in mentions:
        i = m.index
        if i != OTHER_INDEX:
            current = best_label[i]
            if current is None or LABEL_RANK[m.label] > LABEL_RANK[current]:
                best_label[i] = m.label
            if best_score[i] is None or m.score > best_score[i]:
                best_score[i] = m.score
        if m.label != NEGATIVE and i not in ignored:
            worst_other = m.score if worst_other is None else max(worst_other, m.score)
    labels = dict(zip(names, best_label))
    scores = dict(zip(names, best_score))
    if vocab.no_finding:
        if empty:
            labels[vocab.no_finding], scores[vocab.no_finding] = None, None
        else:
            labels[vocab.no_finding] = POSITIVE if worst_other is None else None
            scores[vocab.no_finding] = 1.0 - (worst_other or 0.0)
        # keep No Finding first, as in CheXpert's column order
        labels = {vocab.no_finding: labels.pop(vocab.no_finding), **labels}
        scores = {vocab.no_finding: scores.pop(vocab.no_finding), **scores}
    return ReportLabels(labels, scores, mentions, empty)
