import pytest

from aidemed.reports import BUILTIN_VOCABULARIES, ReportLabeler, VocabularyError, load_vocabulary
from aidemed.reports.phrases import compile_alternation

CHEXPERT_14 = [
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
    "Fracture", "Support Devices",
]
CHESTXRAY14 = [
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
    "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
]


def test_builtin_vocabularies_load():
    assert list(load_vocabulary("chexpert").columns) == CHEXPERT_14
    assert list(load_vocabulary("chestxray14").names) == CHESTXRAY14
    for name in BUILTIN_VOCABULARIES:
        ReportLabeler(name)


def test_phrase_syntax_matches_inflections_and_spacing():
    regex = compile_alternation(["air~space disease", "opacit*", "pleural effusion"])
    for text in ("airspace disease", "air-space disease", "air space  disease", "opacities", "pleural   effusion"):
        assert regex.fullmatch(text), text
    assert not regex.search("pleural thickening")
    assert regex.search("massive opacification") is None  # "opacit*" needs the "opacit" stem


def test_longest_phrase_wins():
    regex = compile_alternation(["pleural", "pleural effusion", "pleural effusions"])
    assert regex.search("small pleural effusions.").group() == "pleural effusions"


BREAST_YAML = """
name: breast_us
observations:
  - name: Mass
    mentions: [mass, masses, hypoechoic lesion*]
    exclude: [mass effect]
  - name: Calcification
    mentions: [calcification*, microcalcification*]
  - name: Architectural Distortion
    mentions: [architectural distortion]
cues:
  possible: [cannot be characterized]
"""


def test_user_vocabulary_from_yaml(tmp_path):
    path = tmp_path / "breast.yaml"
    path.write_text(BREAST_YAML)
    labeler = ReportLabeler(str(path))
    labels = labeler.label(
        "Irregular hypoechoic lesion with microcalcifications. No architectural distortion. No mass effect."
    ).labels
    assert labels == {"Mass": 1, "Calcification": 1, "Architectural Distortion": 0}
    # a user cue
    assert labeler.label("cannot be characterized mass").labels["Mass"] == -1


def test_builtin_breast_example():
    labels = ReportLabeler("breast_ultrasound").label("Possible architectural distortion. Simple cyst.").labels
    assert labels["Architectural Distortion"] == -1 and labels["Cyst"] == 1 and labels["No Finding"] is None


@pytest.mark.parametrize(
    "text,message",
    [
        ("observations: []", "non-empty list"),
        ("observations: [{name: A}]", "at least one of"),
        ("observations: [{name: A, mentions: [a]}, {name: A, mentions: [b]}]", "defined twice"),
        ("observations: [{name: A, mentionz: [a]}]", "unknown keys"),
        ("observations: [{name: A, mentions: ['re:(']}]", "cannot compile"),
        ("observations: [{name: A, mentions: [a]}]\nno_finding_ignores: [B]", "unknown observations"),
        ("observations: [{name: A, mentions: [a]}]\ncues: {sometimes: [x]}", "unknown cue list"),
    ],
)
def test_bad_vocabulary_names_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises((VocabularyError, ValueError)) as info:
        ReportLabeler(str(path))
    assert message in str(info.value)


def test_missing_vocabulary_file():
    with pytest.raises(VocabularyError, match="no such vocabulary file"):
        load_vocabulary("nope.yaml")
