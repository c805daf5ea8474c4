"""One sentence per cue class and per classic trap, with the expected label and grade."""

import pytest

from aidemed.reports import GRADE_SCORES, ReportLabeler


@pytest.fixture(scope="module")
def labeler():
    return ReportLabeler("chexpert")


def _mention(labeler, sentence, observation):
    found = [m for m in labeler.label(sentence).mentions if m.observation == observation]
    assert found, f"no {observation} mention in {sentence!r}"
    return found


CASES = [
    # (sentence, observation, report label, grade of the deciding mention)
    # plain positive
    ("Right lower lobe pneumonia.", "Pneumonia", 1, "definite"),
    ("There is a small left pleural effusion.", "Pleural Effusion", 1, "definite"),
    ("Stable cardiomegaly.", "Cardiomegaly", 1, "definite"),
    # negation, before the mention
    ("No pneumothorax.", "Pneumothorax", 0, "negated"),
    ("No evidence of pneumothorax.", "Pneumothorax", 0, "negated"),
    ("The lungs are clear without focal consolidation.", "Consolidation", 0, "negated"),
    ("The lungs are clear of focal airspace disease.", "Lung Opacity", 0, "negated"),
    ("The lungs are free of any focal infiltrates.", "Lung Opacity", 0, "negated"),
    ("Negative for pneumonia.", "Pneumonia", 0, "negated"),
    ("Interval resolution of the right pleural effusion.", "Pleural Effusion", 0, "negated"),
    ("Resolved left lower lobe pneumonia.", "Pneumonia", 0, "negated"),
    ("No definite pleural effusion seen.", "Pleural Effusion", 0, "negated"),
    ("No large pleural effusion.", "Pleural Effusion", 0, "negated"),
    # negation, after the mention
    ("The pneumothorax has resolved.", "Pneumothorax", 0, "negated"),
    ("Pneumothorax is not seen on this study.", "Pneumothorax", 0, "negated"),
    ("The effusion is no longer visible.", "Pleural Effusion", 0, "negated"),
    # negated lists: every item
    ("No pneumonia, effusions, edema, pneumothorax, adenopathy, nodules or masses.", "Edema", 0, "negated"),
    ("No pneumonia, effusions, edema, pneumothorax, adenopathy, nodules or masses.", "Lung Lesion", 0, "negated"),
    ("No pneumothorax or pleural effusion.", "Pleural Effusion", 0, "negated"),
    ("There are no suspicious pulmonary nodules or masses.", "Lung Lesion", 0, "negated"),
    ("No focal consolidation, suspicious pulmonary opacity, or pneumothorax.", "Lung Opacity", 0, "negated"),
    ("There is no focal air space opacity to suggest a pneumonia.", "Pneumonia", 0, "negated"),
    # pre-negation uncertainty: hedges that contain a negation word
    ("Cannot exclude pneumonia.", "Pneumonia", -1, "cannot_exclude"),
    ("Pneumonia cannot be excluded.", "Pneumonia", -1, "cannot_exclude"),
    ("Early pneumonia is not excluded.", "Pneumonia", -1, "cannot_exclude"),
    ("Small effusion not ruled out.", "Pleural Effusion", -1, "cannot_exclude"),
    ("Difficult to exclude a small pneumothorax.", "Pneumothorax", -1, "cannot_exclude"),
    ("No new consolidation.", "Consolidation", -1, "possible"),
    ("No new focal airspace opacity.", "Lung Opacity", -1, "possible"),
    # graded uncertainty
    ("Findings may represent atelectasis.", "Atelectasis", -1, "possible"),
    ("Possible left lower lobe pneumonia.", "Pneumonia", -1, "possible"),
    ("Questionable small right midlung nodule.", "Lung Lesion", -1, "possible"),
    ("Likely atelectasis at the left base.", "Atelectasis", -1, "probable"),
    ("Left basilar opacity, likely atelectasis.", "Atelectasis", -1, "probable"),
    ("Pneumonia is likely.", "Pneumonia", -1, "probable"),
    ("Probable small left pleural effusion.", "Pleural Effusion", -1, "probable"),
    ("Opacity suspicious for pneumonia.", "Pneumonia", -1, "probable"),
    ("This is most concerning for pneumonia.", "Pneumonia", -1, "probable"),
    ("Patchy airspace opacities compatible with infiltrate.", "Lung Opacity", 1, "definite"),
    ("Findings compatible with pulmonary edema.", "Edema", -1, "probable"),
    ("Pneumonia is unlikely.", "Pneumonia", -1, "unlikely"),
    ("Borderline cardiomegaly.", "Cardiomegaly", -1, "possible"),
    # "X versus Y", "X or Y"
    ("Bibasilar atelectasis versus scarring.", "Atelectasis", -1, "possible"),
    ("Atelectasis vs. pneumonia in the left base.", "Pneumonia", -1, "possible"),
    ("Right basilar infiltrate or atelectasis.", "Atelectasis", -1, "possible"),
    ("Right basilar infiltrate or atelectasis.", "Lung Opacity", -1, "possible"),
    ("Mild scarring and/or subsegmental atelectasis.", "Atelectasis", -1, "possible"),
    # scope: terminators and sentence ends
    ("No pleural effusion, but there is right lower lobe pneumonia.", "Pneumonia", 1, "definite"),
    ("No pneumothorax; however, a small effusion is present.", "Pleural Effusion", 1, "definite"),
    ("No evidence of pneumonia, possible atelectasis.", "Atelectasis", -1, "possible"),
    ("No pneumothorax. Small left pleural effusion.", "Pleural Effusion", 1, "definite"),
    ("Opacity in the left base which may represent pneumonia.", "Lung Opacity", 1, "definite"),
    ("Slight cardiomegaly with no failure or pneumonia.", "Cardiomegaly", 1, "definite"),
    # anatomy mentions need a size qualifier (CheXpert conventions)
    ("Heart size is normal.", "Cardiomegaly", 0, "negated"),
    ("Normal cardiac silhouette.", "Cardiomegaly", 0, "negated"),
    ("The heart is not enlarged.", "Cardiomegaly", 0, "negated"),
    ("The heart is normal in size.", "Cardiomegaly", 0, "negated"),
    ("The cardiac silhouette is enlarged.", "Cardiomegaly", 1, "definite"),
    ("The heart size is stable.", "Cardiomegaly", -1, "possible"),
    ("Normal mediastinum.", "Enlarged Cardiomediastinum", 0, "negated"),
    ("Mediastinal contours are normal.", "Enlarged Cardiomediastinum", 0, "negated"),
    ("The cardiomediastinal silhouette is within normal limits.", "Enlarged Cardiomediastinum", 0, "negated"),
    ("The mediastinum is widened.", "Enlarged Cardiomediastinum", 1, "definite"),
    ("Stable cardiomediastinal silhouette.", "Enlarged Cardiomediastinum", -1, "possible"),
    ("No enlargement of the cardiac silhouette.", "Cardiomegaly", 0, "negated"),
    # hedged vocabulary and CHF
    ("Mild pulmonary vascular congestion.", "Edema", -1, "possible"),
    ("Congestive heart failure.", "Cardiomegaly", -1, "possible"),
    ("Congestive heart failure.", "Edema", 1, "definite"),
]


@pytest.mark.parametrize("sentence,observation,label,grade", CASES)
def test_sentence(labeler, sentence, observation, label, grade):
    result = labeler.label(sentence)
    assert result.labels[observation] == label, [(m.observation, m.text, m.grade, m.cue) for m in result.mentions]
    best = max(_mention(labeler, sentence, observation), key=lambda m: m.score)
    assert best.grade == grade
    assert result.scores[observation] == GRADE_SCORES[grade]


def test_no_chf_says_nothing_about_the_heart(labeler):
    result = labeler.label("No CHF.")
    assert result.labels["Edema"] == 0
    assert result.labels["Cardiomegaly"] is None


def test_anatomy_without_qualifier_is_not_a_mention(labeler):
    # a real IU sentence with de-identified words: nothing is said about the heart size
    result = labeler.label("The heart and lungs have XXXX XXXX in the interval.")
    assert result.labels["Cardiomegaly"] is None
    # ... whereas "not changed" is a stability qualifier, uncertain by the CheXpert convention
    assert labeler.label("The heart has not changed in size.").labels["Cardiomegaly"] == -1
    result = labeler.label("Opacity projecting over the heart.")
    assert result.labels["Cardiomegaly"] is None and result.labels["Lung Opacity"] == 1


def test_look_alikes_are_excluded(labeler):
    assert labeler.label("Small pericardial effusion.").labels["Pleural Effusion"] is None
    assert labeler.label("The pleural spaces are clear.").labels["Pleural Effusion"] is None
    assert labeler.label("Pleural thickening at the apex.").labels["Pleural Effusion"] is None
    assert labeler.label("Plate-like atelectasis.").labels["Support Devices"] is None
    assert labeler.label("Massive hiatal hernia.").labels["Lung Lesion"] is None


def test_same_observation_alternatives_stay_positive(labeler):
    # "nodule or mass" is a lung lesion either way
    assert labeler.label("Dominant nodule/mass in the left midlung.").labels["Lung Lesion"] == 1


def test_age_indeterminate_is_not_a_hedge(labeler):
    assert labeler.label("Age-indeterminate compression fracture.").labels["Fracture"] == 1


def test_evidence_names_sentence_offsets_and_cue(labeler):
    report = "Heart size normal. Left base opacity may represent pneumonia. No effusion."
    m = _mention(labeler, report, "Pneumonia")[0]
    assert report[m.start:m.end] == "pneumonia"
    assert m.sentence == "Left base opacity may represent pneumonia."
    assert report[m.sentence_start:].startswith(m.sentence)
    assert m.cue == "may" and report[m.cue_start:m.cue_end] == "may"
    assert (m.grade, m.score, m.label) == ("possible", 0.5, -1)


# Whole-report labels (blank observations left out) for CheXpert trap sentences and for errors
# found by stress-testing on the IU development reports.
REPORT_CASES = [
    ("No focal airspace disease.", {"Lung Opacity": 0, "No Finding": 1}),
    ("No acute cardiopulmonary abnormality.", {"No Finding": 1}),
    ("Heart size is upper limits of normal.", {"Cardiomegaly": 0, "No Finding": 1}),
    ("Stable mild cardiomegaly.", {"Cardiomegaly": 1}),
    ("Calcified granuloma.", {}),  # granuloma is an "other finding", not a Lung Lesion
    ("No displaced rib fractures.", {"Fracture": 0, "No Finding": 1}),
    ("Hyperexpanded lungs consistent with COPD.", {}),
    ("Left basilar opacity may reflect atelectasis or infiltrate.", {"Lung Opacity": 1, "Atelectasis": -1}),
    ("Small bilateral effusions are unchanged.", {"Pleural Effusion": 1}),
    ("No pneumothorax, no large effusion.", {"Pneumothorax": 0, "Pleural Effusion": 0, "No Finding": 1}),
    ("The cardiomediastinal silhouette is within normal limits.", {"Enlarged Cardiomediastinum": 0, "No Finding": 1}),
    ("Possible mild pulmonary vascular congestion.", {"Edema": -1}),
    ("Right IJ catheter tip in the SVC.", {"Support Devices": 1, "No Finding": 1}),
    ("Scarring versus atelectasis at the left base.", {"Lung Opacity": -1, "Atelectasis": -1}),
    ("No change in the moderate right pleural effusion.", {"Pleural Effusion": 1}),
    ("Increased interstitial markings which may represent edema or atypical infection.",
     {"Lung Opacity": 1, "Edema": -1, "Pneumonia": -1}),
    ("No new focal consolidation.", {"Consolidation": -1}),
    ("Resolution of previously seen right lower lobe pneumonia.", {"Pneumonia": 0, "No Finding": 1}),
    # "borderline" hedges the positive phrase it overlaps ("borderline enlarged heart") ...
    ("Stable borderline enlarged cardiac contour.", {"Cardiomegaly": -1}),
    ("Borderline enlarged cardiac silhouette.", {"Cardiomegaly": -1}),
    # ... but, like the size qualifiers, not across a comma into the next finding
    ("Borderline heart size, small left effusion.", {"Cardiomegaly": -1, "Pleural Effusion": 1}),
    ("Heart size borderline enlarged for technique, tracheostomy tube tip 4.7 cm above the carina.",
     {"Cardiomegaly": -1, "Support Devices": 1}),
]


@pytest.mark.parametrize("sentence,expected", REPORT_CASES)
def test_report_labels(labeler, sentence, expected):
    labels = {k: v for k, v in labeler.label(sentence).labels.items() if v is not None}
    assert labels == expected
