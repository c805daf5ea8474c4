"""Cue phrases that grade a mention, and the tokenizer that finds them in one regex pass.

A cue has a *kind* (what it does), a *direction* (whether it governs mentions after it, before it,
or both) and an optional *reach* in words. Kinds, in the order a conflict is settled:

- ``pre_uncertain``: "cannot exclude", "not ruled out", "no new". Checked before negation because
  each contains a negation word ("not", "no") but hedges rather than denies (CheXpert convention).
- ``negation``: "no", "without", "no evidence of", "free of", "clear of", "has resolved", ...
- ``uncertain``: "may", "possible", "likely", "suspicious for", "compatible with", "unlikely", ...
  carries its own grade (probable, possible, unlikely).
- ``weak``: "or", "versus", "and/or", "suggesting": uncertain only when no negation or stronger
  hedge governs the mention ("no pneumothorax or effusion" is negative; "atelectasis or scarring"
  is uncertain; "no opacity to suggest pneumonia" is negative).
- ``terminator``: ends a cue's scope: "but", "however", "although", "which", ";" and sentence ends.
- ``pseudo``: look-alikes that must not act as cues ("age-indeterminate fracture", "not only").
- ``q_abnormal``/``q_normal``/``q_stable``/``q_borderline``: size qualifiers, which only anatomy
  mentions ("heart size", "mediastinum") need: "normal heart size" is a negative Cardiomegaly,
  "stable cardiac silhouette" an uncertain one (CheXpert convention).

Longer phrases win over their prefixes at the same position ("no new" over "no", "not excluded"
over "not"), because all plain phrases share one prefix tree (see `phrases.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aidemed.reports import grades as G
from aidemed.reports.phrases import RAW_PREFIX, compile_phrase, trie_regex

FWD, BWD, BOTH = "fwd", "bwd", "both"

PRE_UNCERTAIN = "pre_uncertain"
NEGATION = "negation"
UNCERTAIN = "uncertain"
WEAK = "weak"
TERMINATOR = "terminator"
SENTENCE_END = "sentence_end"
Q_ABNORMAL = "q_abnormal"
Q_NORMAL = "q_normal"
Q_STABLE = "q_stable"
Q_BORDERLINE = "q_borderline"
PSEUDO = "pseudo"

QUALIFIER_KINDS = (Q_ABNORMAL, Q_NORMAL, Q_STABLE, Q_BORDERLINE)
CUE_KINDS = (PRE_UNCERTAIN, NEGATION, UNCERTAIN, WEAK, TERMINATOR, PSEUDO) + QUALIFIER_KINDS

# When the cue before a mention and the cue after it disagree, the higher priority wins.
PRIORITY = {PRE_UNCERTAIN: 3, NEGATION: 2, UNCERTAIN: 1, WEAK: 0}

# What may follow a clause-final hedge ("pneumonia is likely, given ...").
CLAUSE_END_RE = re.compile(
    r"\s*(?:[.;,)]|$|(?:given|in|due|on|at|and|but|however|although|with|because|secondary|though)\b)"
)


@dataclass(frozen=True)
class CueGroup:
    kind: str
    grade: str | None
    direction: str
    phrases: tuple[str, ...]
    reach: int | None = None  # max words between cue and mention; None = the whole clause
    # A forward hedge that ends its clause governs backward instead: "opacity is likely
    # atelectasis" hedges atelectasis, "pneumonia is likely." hedges pneumonia.
    final: bool = False


def _g(kind, grade, direction, phrases, reach=None, final=False) -> CueGroup:
    return CueGroup(kind, grade, direction, tuple(phrases), reach, final)


# The built-in cue lists, written for chest radiograph reports (see docs/reports.md).
DEFAULT_CUES: tuple[CueGroup, ...] = (
    # --- uncertainty that looks like negation: must be found before the negation words ------------
    _g(PRE_UNCERTAIN, G.CANNOT_EXCLUDE, FWD, [
        "can~not exclude", "can't exclude", "can~not rule out", "can't rule out",
        "can~not entirely exclude", "can~not completely exclude", "can~not definitely exclude",
        "can~not totally exclude", "can~not entirely rule out", "difficult to exclude",
        "difficult to rule out", "unable to exclude", "unable to rule out", "could not exclude",
        "does not exclude", "do not exclude", "not exclude", "not rule out", "would not exclude",
        "may not exclude", "not excluding",
    ]),
    _g(PRE_UNCERTAIN, G.CANNOT_EXCLUDE, BWD, [
        "can~not be excluded", "can~not be entirely excluded", "can~not be completely excluded",
        "can~not be definitely excluded", "can~not be ruled out", "can~not be entirely ruled out",
        "can't be excluded", "can't be ruled out", "not excluded", "not entirely excluded",
        "not completely excluded", "not definitely excluded", "not ruled out", "not been excluded",
        "not be excluded", "not be ruled out", "not been ruled out", "could not be excluded",
        "not entirely ruled out", "not completely ruled out",
    ]),
    # "no new X" is uncertain in the CheXpert convention: X may persist from before.
    _g(PRE_UNCERTAIN, G.POSSIBLE, FWD, [
        "no new", "no definite new", "no significant new", "no other new", "no evidence of new",
        "no evidence of a new", "no definite evidence of new", "without new", "without evidence of new",
        "no new or increased", "no new or worsening", "no new focal",
    ]),
    # --- negation ---------------------------------------------------------------------------------
    _g(NEGATION, G.NEGATED, FWD, [
        "no", "not", "without", "no evidence of", "no evidence for", "no definite evidence of",
        "without evidence of", "without any evidence of", "no signs of", "no sign of",
        "no findings of", "no finding of", "no radiographic evidence of", "no convincing evidence of",
        "negative for", "free of", "clear of", "absence of", "resolution of",
        "interval resolution of", "removal of", "rule out", "ruled out for", "r/o", "to exclude",
        "exclude", "history of", "nor", "neither", "never", "lack of", "denies", "clearing of",
        "not demonstrate", "no longer", "no residual", "not show", "not identify",
        # a hedge inside a negated noun phrase stays negated: "no suspicious nodules"
        "no suspicious", "no definite suspicious", "no suspicious appearing", "without suspicious",
        "no evidence of suspicious",
    ]),
    _g(NEGATION, G.NEGATED, BOTH, ["absent", "resolved", "removed"]),
    _g(NEGATION, G.NEGATED, BWD, [
        "not seen", "not identified", "not visualized", "not visible", "not present",
        "not demonstrated", "not noted", "not appreciated", "not evident", "not detected",
        "not apparent", "not definitely seen", "not definitely identified", "not convincingly seen",
        "not appreciable", "no longer seen", "no longer visible", "no longer visualized",
        "no longer present", "no longer identified", "no longer evident", "no longer demonstrated",
        "no longer apparent", "has resolved", "have resolved", "has cleared", "have cleared",
        "cleared", "has been removed", "have been removed", "ruled out", "is excluded",
        "are excluded", "none", "has resolved since", "have since resolved", "has since resolved",
    ]),
    # --- uncertainty (graded) ---------------------------------------------------------------------
    _g(UNCERTAIN, G.PROBABLE, FWD, [
        "likely", "most likely", "more likely", "probable", "probably", "presumably", "presumed",
        "presumptive", "suspicious for", "suspicious of", "suspect", "suspected",
        "concerning for", "concern for", "worrisome for", "worrying for", "favor", "favour",
        "favored", "favoured", "favoring", "compatible with", "most compatible with",
        "thought to represent", "thought to be", "believed to represent", "strongly suggestive of",
        "suspicion for", "suspicion of", "is likely", "are likely", "is most likely",
        "are most likely", "is probable", "is suspected", "are suspected", "is favored",
        "is presumed", "was likely",
    ], final=True),
    _g(UNCERTAIN, G.POSSIBLE, FWD, [
        "may", "might", "could", "possible", "possibly", "questionable", "question of",
        "questionably", "suggestion of", "equivocal", "indeterminate", "uncertain", "maybe",
        "perhaps", "differential diagnosis includes", "differential diagnosis include",
        "differential diagnosis would include", "differential includes", "differential include",
        "differential considerations include", "considerations include", "considerations would include",
        "differential diagnosis of", "differential diagnoses include", "raise the possibility of",
        "raises the possibility of", "possibility of", "correlate for", "clinical correlation for",
        "obscuring", "obscures", "vague", "can~not be assessed", "unclear", "unclear whether",
        "unclear if", "uncertain whether", "not certain whether",
    ]),
    _g(UNCERTAIN, G.POSSIBLE, BWD, [
        "may be present", "might be present", "could be present", "may be seen", "may be noted",
        "is possible", "are possible", "is questioned", "are questioned", "questioned",
        "not well seen", "not well visualized", "not well evaluated", "not clearly seen",
        "not clearly visualized", "poorly visualized", "poorly evaluated", "obscured",
        "is not well seen", "in the appropriate clinical setting", "cannot be evaluated",
        "is uncertain", "is equivocal", "is indeterminate",
    ]),
    _g(UNCERTAIN, G.UNLIKELY, BOTH, [
        "unlikely", "less likely", "not likely", "doubtful", "doubt", "improbable", "not favored",
        "not favoured", "felt unlikely", "considered unlikely",
    ]),
    # --- weak hedges: yield to any negation or stronger hedge in scope ------------------------------
    _g(WEAK, G.POSSIBLE, BOTH, ["or", "and/or", "versus", "vs", "vs."], reach=3),
    # an attributive hedge inside a negated list stays negated: "no consolidation, suspicious opacity"
    _g(WEAK, G.PROBABLE, FWD, ["suspicious", "suspicious appearing"], reach=3),
    _g(WEAK, G.PROBABLE, FWD, [
        "suggest", "suggests", "suggesting", "suggestive of", "to suggest", "indicate", "indicates",
        "indicating", "to indicate",
    ]),
    # --- scope terminators --------------------------------------------------------------------------
    _g(TERMINATOR, None, BOTH, [
        "but", "however", "although", "though", "which", "whereas", "while", "except", "except for",
        "aside from", "apart from", "other than", "with the exception of", "and the", "and there is",
        "and there are", "yet", "otherwise", "and is", "and are", "with associated",
    ]),
    # --- size qualifiers for anatomy mentions ---------------------------------------------------------
    _g(Q_ABNORMAL, None, BOTH, [
        "enlarged", "enlargement", "large", "larger", "prominent", "prominence", "widened",
        "widening", "wide", "increased", "dilated", "dilatation", "dilation", "globular", "abnormal",
        "big", "increase", "increasing", "enlarging", "mildly enlarged", "moderately enlarged",
        "markedly enlarged", "massively enlarged", "mildly prominent",
    ], reach=8),
    _g(Q_NORMAL, None, BOTH, [
        "normal", "normal in size", "within normal limits", "within normal limits of size",
        "within the normal limits", "within normal range", "within the normal range", "wnl",
        "unremarkable", "not enlarged", "not significantly enlarged", "not markedly enlarged",
        "not appreciably enlarged", "not widened", "upper limits of normal", "upper limit of normal",
        "upper normal", "upper~normal limits", "top normal", "top~normal", "high normal",
        "normal size", "not abnormally enlarged", "not significantly widened",
        "within normal size limits",
    ], reach=8),
    _g(Q_STABLE, None, BOTH, [
        "stable", "unchanged", "similar", "similar to prior", "not changed", "no change",
        "no significant change", "no interval change", "no appreciable change", "without change",
        "without significant change", "without interval change", "stably", "not significantly changed",
        "no significant interval change", "grossly stable", "no substantial change",
    ], reach=8),
    _g(Q_BORDERLINE, None, BOTH, ["borderline", "borderline enlarged", "borderline in size"], reach=4),
    # look-alikes of cues, matched so that their words do not act as cues
    _g(PSEUDO, None, BOTH, [
        "age~indeterminate", "indeterminate age", "of indeterminate age", "not only", "no longer than",
        "gram negative", "not otherwise",
    ]),
)


@dataclass(frozen=True)
class Cue:
    """One cue occurrence in a text."""

    start: int
    end: int
    kind: str
    grade: str | None
    direction: str
    reach: int | None


# Punctuation cues come first: sentence ends (not the dot of "vs." or "Dr."), ";" (a clause
# terminator) and a slash between words ("atelectasis/scarring", read as "or").
_PUNCTUATION = (
    r"(?P<END>[.!?]+(?=\s|$)(?<!\bvs\.)(?<!\bdr\.)|\n[ \t]*\n)"
    r"|(?P<SEMI>;)"
    r"|(?P<SLASH>/(?=[a-z])(?<=[a-z]/))"
)
_SEMI = CueGroup(TERMINATOR, None, BOTH, (";",))
_SLASH = CueGroup(WEAK, G.POSSIBLE, BOTH, ("/",), reach=0)


class CueTokenizer:
    """Finds every cue, terminator and sentence end of a (lowercased) text in one regex pass."""

    def __init__(self, groups: tuple[CueGroup, ...] = DEFAULT_CUES):
        self.groups = tuple(groups)
        phrases: list[str] = []
        self._plain_specs: list[tuple[re.Pattern, CueGroup]] = []
        self._raw_groups: list[CueGroup] = []
        seen: dict[str, CueGroup] = {}
        for group in self.groups:
            if group.kind not in CUE_KINDS:
                raise ValueError(f"unknown cue kind {group.kind!r}")
            for phrase in group.phrases:
                if phrase in seen and seen[phrase] is not group:
                    raise ValueError(f"cue phrase {phrase!r} is listed twice ({seen[phrase].kind}, {group.kind})")
                seen[phrase] = group
                phrases.append(phrase)
                if phrase.startswith(RAW_PREFIX):
                    self._raw_groups.append(group)
                else:
                    self._plain_specs.append((compile_phrase(phrase), group))
        # Longest phrase first when resolving a hit: "not excluded" must not be read as "not".
        self._plain_specs.sort(key=lambda s: -len(s[0].pattern))
        self.regex = re.compile(_PUNCTUATION + "|" + trie_regex(phrases, raw_groups=True))
        self._cache: dict[str, CueGroup | None] = {}

    def _resolve(self, text: str) -> CueGroup | None:
        group = None
        for pattern, candidate in self._plain_specs:
            if pattern.fullmatch(text):
                group = candidate
                break
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[text] = group
        return group

    def tokenize(self, low: str, start: int = 0, end: int | None = None) -> list[tuple]:
        """Cue tuples (start, end, kind, grade, direction, reach) of a lowercased text, in order."""
        if end is None:
            end = len(low)
        out = []
        append = out.append
        cache = self._cache
        raw_groups = self._raw_groups
        clause_end = CLAUSE_END_RE.match
        for m in self.regex.finditer(low, start, end):
            name = m.lastgroup
            if name is None:
                text = m.group()
                group = cache.get(text, False)
                if group is False:
                    group = self._resolve(text)
                if group is None or group.kind == PSEUDO:
                    continue
            elif name == "END":
                append((m.start(), m.end(), SENTENCE_END, None, BOTH, None))
                continue
            elif name == "SEMI":
                group = _SEMI
            elif name == "SLASH":
                group = _SLASH
            else:
                group = raw_groups[int(name[1:])]
            if group.final and clause_end(low, m.end()):
                append((m.start(), m.end(), group.kind, group.grade, BWD, group.reach))
                continue
            append((m.start(), m.end(), group.kind, group.grade, group.direction, group.reach))
        return out


def with_extra_cues(extra: dict[str, list[str]] | None) -> tuple[CueGroup, ...]:
    """Default cue groups plus user phrases, given as {"negation": [...], "possible": [...], ...}.

    Keys: negation, pre_uncertain (cannot-exclude grade), probable, possible, unlikely,
    terminator; each list's phrases govern mentions after them (fwd) unless the key ends in
    ``_after`` (e.g. ``negation_after`` for "X has resolved"-style phrases).
    """
    if not extra:
        return DEFAULT_CUES
    kinds = {
        "negation": (NEGATION, G.NEGATED),
        "pre_uncertain": (PRE_UNCERTAIN, G.CANNOT_EXCLUDE),
        "probable": (UNCERTAIN, G.PROBABLE),
        "possible": (UNCERTAIN, G.POSSIBLE),
        "unlikely": (UNCERTAIN, G.UNLIKELY),
        "terminator": (TERMINATOR, None),
    }
    existing = {p for g in DEFAULT_CUES for p in g.phrases}
    groups = list(DEFAULT_CUES)
    for key, phrases in extra.items():
        base, direction = (key[: -len("_after")], BWD) if key.endswith("_after") else (key, FWD)
        if base not in kinds:
            raise ValueError(f"unknown cue list {key!r}; expected one of {sorted(kinds)} (optionally with _after)")
        kind, grade = kinds[base]
        new = [p for p in phrases if p not in existing]
        existing.update(new)
        if new:
            groups.append(CueGroup(kind, grade, BOTH if kind == TERMINATOR else direction, tuple(new)))
    return tuple(groups)
