from aidemed.reports import ReportLabeler, select_sections, split_sections

REPORT = """EXAMINATION: CHEST (PA AND LAT)
INDICATION: Rule out pneumonia.
COMPARISON: None.
Findings: Heart size is normal. No pleural effusion.
IMPRESSION:  1. Possible right lower lobe pneumonia.
"""


def test_headings_vary_in_case_and_punctuation():
    names = [s.name for s in split_sections(REPORT)]
    assert names == ["examination", "indication", "comparison", "findings", "impression"]
    text = "impression - no acute disease.\nConclusions:\nclear lungs"
    assert [s.name for s in split_sections(text)] == ["impression", "impression"]


def test_section_offsets_point_into_the_report():
    for section in split_sections(REPORT):
        assert REPORT[section.start:section.start + len(section.text)] == section.text


def test_default_labels_findings_and_impression_only():
    labels = ReportLabeler().label(REPORT).labels
    # "Rule out pneumonia" in the indication is not read; the impression's hedge is
    assert labels["Pneumonia"] == -1
    assert labels["Cardiomegaly"] == 0 and labels["Pleural Effusion"] == 0


def test_configurable_sections():
    only_indication = ReportLabeler(sections=("indication",)).label(REPORT).labels
    assert only_indication["Pneumonia"] == 0  # "rule out" reads as a negation
    assert only_indication["Cardiomegaly"] is None
    assert ReportLabeler(sections=None).label(REPORT).labels["Pneumonia"] == -1


def test_report_without_headings_is_labelled_whole():
    assert [s.name for s in select_sections("No pneumothorax.")] == ["body"]
    assert ReportLabeler().label("No pneumothorax.").labels["Pneumothorax"] == 0


def test_mid_sentence_words_are_not_headings():
    assert [s.name for s in split_sections("There are no findings: the lungs are clear.")] == ["body"]


def test_headings_without_wanted_sections_fall_back_to_preamble():
    chosen = select_sections("Small left effusion.\nCOMPARISON: none")
    assert [s.name for s in chosen] == ["preamble"]
