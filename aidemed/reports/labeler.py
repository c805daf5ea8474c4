"""The report labeler: mentions, then a certainty grade per mention, then report-level labels.

    >>> labeler = ReportLabeler("chexpert")
    >>> result = labeler.label("FINDINGS: Heart size is normal. IMPRESSION: Cannot exclude pneumonia.")
    >>> result.labels["Cardiomegaly"], result.labels["Pneumonia"]
    (0, -1)

How a mention is graded (details and the full cue lists in docs/reports.md):

1. The scope of a cue is its clause: it ends at sentence ends and at terminators ("but",
   "however", "although", "which", ";"), and never reaches further than `MAX_SCOPE_CHARS`.
2. Before the mention, the nearest cue that governs forward wins ("no effusion, possible
   atelectasis": atelectasis is possible); after it, the nearest cue that governs backward
   ("pneumonia is not excluded").
3. If both sides have a cue, pre-negation uncertainty beats negation, which beats uncertainty
   (the CheXpert order: "cannot exclude" is checked before "no").
4. Weak hedges ("or", "versus", "suggesting") apply only when no other cue does, and only to the
   mention right next to them ("no pneumothorax or effusion" stays negative).
5. Anatomy mentions ("heart size", "mediastinum") need a size qualifier: "normal" makes them
   negative, "enlarged"/"widened" positive (then graded as above), "stable" or "borderline"
   uncertain. Without a qualifier they are not mentions at all.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping

from aidemed.reports import grades as G
from aidemed.reports.aggregate import Mention, ReportLabels, aggregate
from aidemed.reports.cues import (
    BWD,
    FWD,
    PRIORITY,
    Q_BORDERLINE,
    Q_NORMAL,
    Q_STABLE,
    QUALIFIER_KINDS,
    SENTENCE_END,
    TERMINATOR,
    UNCERTAIN,
    WEAK,
    CueTokenizer,
    with_extra_cues,
)
from aidemed.reports.sections import DEFAULT_SECTIONS, select_sections
from aidemed.reports.vocab import ANATOMY, HEDGED, IMPLIED, OTHER_INDEX, MentionMatcher, Vocabulary, load_vocabulary

MAX_SCOPE_CHARS = 300  # bounds the work per mention, so a megabyte-long "sentence" stays linear
_STOPS = (SENTENCE_END, TERMINATOR)
_SCORES = G.GRADE_SCORES
_LABELS = G.GRADE_LABELS


def lowercase_same_length(text: str) -> str:
    """`text.lower()` with offsets preserved (a few characters, like 'İ', lowercase to two)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class ReportLabeler:
    """Labels radiology reports with a vocabulary's observations, graded by certainty.

    Args:
        vocabulary: a built-in name ("chexpert", "chestxray14", "breast_ultrasound"), a YAML
            path, or a loaded `Vocabulary`.
        sections: sections of a free-text report to label (None: all of it). Reports given as a
            mapping {section name: text} are labelled whole, whatever their keys.
        evidence: keep sentence and cue text on each mention (costs a little speed).
    """

    def __init__(
        self,
        vocabulary: str | Vocabulary = "chexpert",
        sections: tuple[str, ...] | None = DEFAULT_SECTIONS,
        evidence: bool = True,
    ):
        self.vocab = vocabulary if isinstance(vocabulary, Vocabulary) else load_vocabulary(vocabulary)
        self.sections = tuple(sections) if sections is not None else None
        self.evidence = evidence
        self.matcher = MentionMatcher(self.vocab)
        self.cues = CueTokenizer(with_extra_cues(self.vocab.extra_cues))
        self._names = self.vocab.names

    # ---------------------------------------------------------------- public API
    def label(self, report: str | Mapping[str, str] | None) -> ReportLabels:
        """Label one report: a string (split into sections) or a mapping of section -> text."""
        mentions: list[Mention] = []
        empty = True
        if isinstance(report, Mapping):
            for name, text in report.items():
                if text and isinstance(text, str) and text.strip():
                    empty = False
                    self._label_text(text, 0, str(name), mentions)
        elif isinstance(report, str) and report.strip():
            for section in select_sections(report, self.sections):
                if section.text.strip():
                    empty = False
                    self._label_text(section.text, section.start, section.name, mentions)
        return aggregate(self.vocab, mentions, empty)

    def label_many(self, reports: Iterable[str | Mapping[str, str] | None]) -> Iterator[ReportLabels]:
        """Label a stream of reports lazily, one result per input, in order."""
        for report in reports:
            yield self.label(report)

    # ---------------------------------------------------------------- internals
    def _label_text(self, text: str, offset: int, section: str, out: list) -> None:
        low = lowercase_same_length(text)
        hits = []
        targets_of = self.matcher.targets
        for m in self.matcher.regex.finditer(low):
            targets = targets_of(m.group())
            if targets:
                hits.append((m.start(), m.end(), targets))
        if not hits:
            return
        # Cues only matter in the sentences that hold mentions: skip the rest of the text.
        lo = _sentence_start(low, hits[0][0])
        tail = _SENTENCE_END_RE.search(low, hits[-1][1])
        hi = tail.end() if tail else len(low)
        cues = self.cues.tokenize(low, lo, hi)
        cue_starts = [c[0] for c in cues]
        ends = [lo] + [c[1] for c in cues if c[2] == SENTENCE_END]
        hit_starts = [h[0] for h in hits]
        names = self._names
        for ms, me, targets in hits:
            for index, kind in targets:
                graded = self._grade(low, ms, me, index, kind, cues, cue_starts, hits, hit_starts)
                if graded is None:
                    continue
                grade, cue = graded
                if kind == HEDGED and grade != G.NEGATED:
                    grade = G.cap_grade(grade, G.POSSIBLE)
                elif kind == IMPLIED:
                    if grade == G.NEGATED:
                        continue  # "no CHF" says nothing about the heart size
                    grade = G.cap_grade(grade, G.POSSIBLE)
                out.append(self._mention(text, offset, section, ends, ms, me, index, kind, grade, cue, names))

    def _mention(self, text, offset, section, ends, ms, me, index, kind, grade, cue, names) -> Mention:
        if self.evidence:
            k = bisect_right(ends, ms)
            s0 = ends[k - 1]
            s1 = ends[k] if k < len(ends) else len(text)
            sentence = text[s0:s1].strip()
            s0 += len(text[s0:s1]) - len(text[s0:s1].lstrip())
        else:
            sentence, s0 = "", 0
        return Mention(
            observation=names[index] if index != OTHER_INDEX else "",
            index=index,
            kind=kind,
            text=text[ms:me],
            start=offset + ms,
            end=offset + me,
            section=section,
            sentence=sentence,
            sentence_start=offset + s0,
            grade=grade,
            score=_SCORES[grade],
            label=_LABELS[grade],
            cue=text[cue[0]:cue[1]] if cue is not None else None,
            cue_start=offset + cue[0] if cue is not None else None,
            cue_end=offset + cue[1] if cue is not None else None,
        )

    def _grade(self, low, ms, me, index, kind, cues, cue_starts, hits, hit_starts):
        """(grade, deciding cue) of one mention, or None when an anatomy mention has no qualifier."""
        before = _scope_before(low, cues, bisect_left(cue_starts, ms), ms)
        after = _scope_after(low, cues, bisect_left(cue_starts, me), me)
        if kind == ANATOMY:
            qualifier = _nearest_qualifier(low, before, after, ms)
            if qualifier is None:
                return None
            qkind = qualifier[2]
            if qkind == Q_NORMAL:
                return G.NEGATED, qualifier
            if qkind in (Q_STABLE, Q_BORDERLINE):
                return G.POSSIBLE, qualifier
            # Q_ABNORMAL: an enlarged heart, graded by the hedges around it like any finding
        return _classify(low, ms, me, before, after, index, hits, hit_starts)


_SENTENCE_END_RE = re.compile(r"[.!?]+(?=\s|$)(?<!\bvs\.)(?<!\bdr\.)|\n[ \t]*\n")


def _sentence_start(low: str, pos: int) -> int:
    """Offset just after the sentence end that precedes `pos` (0 if none)."""
    while True:
        cut = max(low.rfind(". ", 0, pos), low.rfind("? ", 0, pos), low.rfind("! ", 0, pos),
                  low.rfind(".\n", 0, pos), low.rfind("\n\n", 0, pos))
        if cut < 0:
            return 0
        if low[max(0, cut - 3):cut + 1] not in (" vs.", " dr.") and low[max(0, cut - 2):cut + 1] not in ("vs.", "dr."):
            return cut + 1
        pos = cut


def _scope_before(low, cues, i, ms):
    """Cues before a mention, nearest first, with the number of words in between."""
    out = []
    j = i - 1
    while j >= 0:
        c = cues[j]
        j -= 1
        if c[1] > ms:
            if c[2] == Q_BORDERLINE and c[0] < ms:
                out.append((c, 0))  # "borderline enlarged heart": the hedge overlaps the mention
            continue  # overlaps the mention itself
        if c[2] in _STOPS or ms - c[1] > MAX_SCOPE_CHARS:
            break
        out.append((c, low.count(" ", c[1], ms) - 1))
    return out


def _scope_after(low, cues, i, me):
    out = []
    n = len(cues)
    while i < n:
        c = cues[i]
        i += 1
        if c[2] in _STOPS or c[0] - me > MAX_SCOPE_CHARS:
            break
        out.append((c, low.count(" ", me, c[0]) - 1))
    return out


def _nearest_qualifier(low, before, after, ms):
    best, best_gap = None, None
    for c, gap in before:
        if c[2] in QUALIFIER_KINDS and c[4] != BWD and gap <= c[5] and "," not in low[c[1]:ms]:
            best, best_gap = c, gap
            break
    for c, gap in after:
        if c[2] in QUALIFIER_KINDS and c[4] != FWD and gap <= c[5]:
            if best is None or gap < best_gap:
                best = c
            break
    return best


def _classify(low, ms, me, before, after, index, hits, hit_starts):
    """Grade a finding mention from the cues in its clause (see the module docstring)."""
    fwd = weak = None
    for c, gap in before:
        kind = c[2]
        if kind in QUALIFIER_KINDS:
            if kind == Q_BORDERLINE and gap <= c[5] and "," not in low[c[1]:ms]:
                fwd = (c[0], c[1], UNCERTAIN, G.POSSIBLE, FWD, c[5])  # "borderline cardiomegaly"
                break
            continue
        if c[4] == BWD or (c[5] is not None and gap > c[5]):
            continue
        if kind == WEAK:
            if weak is None and _weak_applies(c, index, hits, hit_starts, ms, before=True):
                weak = c
            continue
        fwd = c
        break
    bwd = None
    for c, gap in after:
        kind = c[2]
        if kind in QUALIFIER_KINDS:
            continue
        if c[4] == FWD:
            if kind != WEAK:
                break  # "cardiomegaly with no failure or pneumonia": the "or" belongs to "no ..."
            continue
        if c[5] is not None and gap > c[5]:
            continue
        if kind == WEAK:
            if weak is None and _weak_applies(c, index, hits, hit_starts, me, before=False):
                weak = c
            continue
        bwd = c
        break
    if fwd is not None and bwd is not None:
        cue = bwd if PRIORITY[bwd[2]] > PRIORITY[fwd[2]] else fwd
    else:
        cue = fwd or bwd or weak
    if cue is None:
        return G.DEFINITE, None
    return cue[3], cue


def _weak_applies(cue, index, hits, hit_starts, edge, before):
    """A reach-limited weak hedge ("or", "versus", "/") hedges only the mention right next to it,
    and not at all when the alternative is the same observation ("nodule or mass" is a lesion)."""
    if cue[5] is None:
        return True
    if before:
        if bisect_left(hit_starts, cue[1]) != bisect_left(hit_starts, edge):
            return False  # another mention sits between the cue and this one
        k = bisect_left(hit_starts, cue[0]) - 1  # the alternative, before the cue
    else:
        k = bisect_left(hit_starts, edge)
        if k < len(hits) and hits[k][0] < cue[0]:
            return False
        k = bisect_left(hit_starts, cue[1])  # the alternative, after the cue
    if 0 <= k < len(hits) and any(t[0] == index for t in hits[k][2]):
        return False
    return True


__all__ = ["ReportLabeler", "ReportLabels", "Mention", "lowercase_same_length"]
