"""Observation vocabularies: which phrases mention which observation, loaded from YAML.

A vocabulary file (see docs/reports.md and the built-ins in `aidemed/reports/vocab/`):

    name: breast_ultrasound
    no_finding: No Finding            # optional derived label
    no_finding_ignores: []            # observations that do not count against No Finding
    observations:
      - name: Mass
        mentions: [mass, masses, lesion*]   # the finding itself
        anatomy: []                         # neutral words that need a size qualifier
        hedged: []                          # mentions that are uncertain by themselves
        implied_by: []                      # another observation's phrase that hints at this one
        exclude: [mass effect]              # look-alike phrases that are not this observation
    other_findings:                         # optional: not output, but they block No Finding
      mentions: [cyst*]
    cues:                                   # optional extra cue phrases (see cues.with_extra_cues)
      possible: [cannot be characterized]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from aidemed.reports.phrases import PhraseError, compile_alternation, compile_phrase

FINDING, ANATOMY, HEDGED, IMPLIED, OTHER = "finding", "anatomy", "hedged", "implied", "other"
OTHER_INDEX = -1  # target index of `other_findings`
BUILTIN_VOCABULARIES = ("chexpert", "chestxray14", "breast_ultrasound")


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Observation:
    name: str
    mentions: tuple[str, ...] = ()
    anatomy: tuple[str, ...] = ()
    hedged: tuple[str, ...] = ()
    implied_by: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    name: str
    observations: tuple[Observation, ...]
    no_finding: str | None = None
    no_finding_ignores: tuple[str, ...] = ()
    other_findings: tuple[str, ...] = ()
    other_exclude: tuple[str, ...] = ()
    extra_cues: dict = field(default_factory=dict, hash=False, compare=False)
    source: str = "<memory>"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.observations)

    @property
    def columns(self) -> tuple[str, ...]:
        """Output label columns: No Finding first (CheXpert order), then the observations."""
        return ((self.no_finding,) if self.no_finding else ()) + self.names


def _phrase_list(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise VocabularyError(f"{where}: expected a list of non-empty phrases")
    return tuple(v.strip() if v.startswith("re:") else v.strip().lower() for v in value)


def vocabulary_from_dict(data: dict, source: str = "<memory>") -> Vocabulary:
    if not isinstance(data, dict):
        raise VocabularyError(f"{source}: expected a mapping at the top level")
    items = data.get("observations")
    if not isinstance(items, list) or not items:
        raise VocabularyError(f"{source}: 'observations' must be a non-empty list")
    observations = []
    seen = set()
    for i, item in enumerate(items):
        where = f"{source}: observations[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise VocabularyError(f"{where}: each observation needs a 'name'")
        unknown = set(item) - {"name", "mentions", "anatomy", "hedged", "implied_by", "exclude"}
        if unknown:
            raise VocabularyError(f"{where} ({item['name']}): unknown keys {sorted(unknown)}")
        obs = Observation(
            name=item["name"],
            mentions=_phrase_list(item.get("mentions"), f"{where}.mentions"),
            anatomy=_phrase_list(item.get("anatomy"), f"{where}.anatomy"),
            hedged=_phrase_list(item.get("hedged"), f"{where}.hedged"),
            implied_by=_phrase_list(item.get("implied_by"), f"{where}.implied_by"),
            exclude=_phrase_list(item.get("exclude"), f"{where}.exclude"),
        )
        if obs.name in seen:
            raise VocabularyError(f"{where}: observation {obs.name!r} is defined twice")
        if not (obs.mentions or obs.anatomy or obs.hedged):
            raise VocabularyError(f"{where} ({obs.name}): needs at least one of mentions, anatomy, hedged")
        seen.add(obs.name)
        observations.append(obs)
    other = data.get("other_findings") or {}
    if not isinstance(other, dict):
        raise VocabularyError(f"{source}: 'other_findings' must be a mapping with 'mentions'")
    ignores = data.get("no_finding_ignores") or ()
    if isinstance(ignores, str) or not all(isinstance(n, str) for n in ignores):
        raise VocabularyError(f"{source}: no_finding_ignores must be a list of observation names")
    ignores = tuple(ignores)
    missing = [n for n in ignores if n not in seen]
    if missing:
        raise VocabularyError(f"{source}: no_finding_ignores names unknown observations {missing}")
    cues = data.get("cues") or {}
    if not isinstance(cues, dict):
        raise VocabularyError(f"{source}: 'cues' must be a mapping of cue list name to phrases")
    vocab = Vocabulary(
        name=str(data.get("name") or Path(source).stem),
        observations=tuple(observations),
        no_finding=data.get("no_finding"),
        no_finding_ignores=ignores,
        other_findings=_phrase_list(other.get("mentions"), f"{source}: other_findings.mentions"),
        other_exclude=_phrase_list(other.get("exclude"), f"{source}: other_findings.exclude"),
        extra_cues={k: list(_phrase_list(v, f"{source}: cues.{k}")) for k, v in cues.items()},
        source=source,
    )
    if vocab.no_finding in seen:
        raise VocabularyError(f"{source}: no_finding {vocab.no_finding!r} is also an observation")
    MentionMatcher(vocab)  # fail early, naming the file, on a phrase that does not compile
    return vocab


def load_vocabulary(name_or_path: str | Path) -> Vocabulary:
    """A built-in vocabulary by name ("chexpert", "chestxray14", ...) or a YAML file."""
    key = str(name_or_path)
    if key in BUILTIN_VOCABULARIES:
        text = resources.files("aidemed.reports").joinpath("vocab", f"{key}.yaml").read_text("utf-8")
        return vocabulary_from_dict(yaml.safe_load(text), source=f"{key}.yaml (built-in)")
    path = Path(key)
    if not path.is_file():
        raise VocabularyError(
            f"{path}: no such vocabulary file (built-in vocabularies: {', '.join(BUILTIN_VOCABULARIES)})"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{path}: invalid YAML: {exc}") from exc
    return vocabulary_from_dict(data, source=str(path))


class MentionMatcher:
    """All phrases of a vocabulary in one regex; a hit resolves to its (observation, kind) targets.

    A phrase may serve several observations ("nodular opacity" is a Lung Lesion and a Lung
    Opacity); an `exclude` phrase has no target but, being longer and starting earlier, it
    swallows the look-alike ("pericardial effusion" is not a Pleural Effusion).
    """

    def __init__(self, vocab: Vocabulary):
        targets: dict[str, list[tuple[int, str]]] = {}

        def add(phrase: str, target: tuple[int, str] | None):
            lst = targets.setdefault(phrase, [])
            if target is not None and target not in lst:
                lst.append(target)

        for index, obs in enumerate(vocab.observations):
            for kind, phrases in ((FINDING, obs.mentions), (ANATOMY, obs.anatomy), (HEDGED, obs.hedged),
                                  (IMPLIED, obs.implied_by)):
                for phrase in phrases:
                    add(phrase, (index, kind))
            for phrase in obs.exclude:
                add(phrase, None)
        for phrase in vocab.other_findings:
            add(phrase, (OTHER_INDEX, OTHER))
        for phrase in vocab.other_exclude:
            add(phrase, None)
        # An excluded phrase of one observation may be a mention of another: keep the mention,
        # but drop the excluded observation from any target list of the same phrase.
        for index, obs in enumerate(vocab.observations):
            for phrase in obs.exclude:
                targets[phrase] = [t for t in targets[phrase] if t[0] != index]
        try:
            self.regex = compile_alternation(list(targets))
            # Longest phrase first when a hit fully matches several phrases ("pleural effusion*"
            # before "effusion*" does not matter here, but "plate~like" before "plate" does).
            self._phrases = sorted(
                ((compile_phrase(p), tuple(t)) for p, t in targets.items()),
                key=lambda pt: -len(pt[0].pattern),
            )
        except PhraseError as exc:
            raise VocabularyError(f"{vocab.source}: {exc}") from exc
        self._cache: dict[str, tuple] = {}

    def targets(self, text: str) -> tuple:
        """(observation index, kind) pairs for a matched (lowercased) text."""
        hit = self._cache.get(text)
        if hit is None:
            hit = ()
            for pattern, targets in self._phrases:
                if pattern.fullmatch(text):
                    hit = targets
                    break
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[text] = hit
        return hit
