"""Whole real reports (IU X-ray, de-identified with XXXX), labels checked by hand."""

import csv

import pytest

from aidemed.reports import ReportLabeler
from reports_support import require_iu_reports

# Pasted from reports_dev.csv (uid in the name); expected labels read by a person, CheXpert
# conventions (stable cardiomediastinal silhouette -> -1, "X or Y" -> -1, blank = not mentioned).
PASTED = {
    "uid14": (
        {
            "findings": "Heart size within normal limits, stable mediastinal and hilar contours. Mild hyperinflation "
            "appears similar to prior. No focal alveolar consolidation, no definite pleural effusion seen. Scattered "
            "chronic appearing irregular interstitial markings, no typical findings of pulmonary edema.",
            "impression": "No acute findings",
        },
        {"Cardiomegaly": 0, "Enlarged Cardiomediastinum": -1, "Consolidation": 0, "Pleural Effusion": 0,
         "Lung Opacity": 1, "Edema": 0, "No Finding": None, "Pneumothorax": None},
    ),
    "uid240": (
        {
            "findings": "Chest. There is no change in the strandy scarring in the right apex. No XXXX infiltrates or "
            "masses in the lungs. Heart and mediastinum remain normal. Lumbosacral spine. disc spaces are old narrow, "
            "and large osteophytes present on the vertebral bodies, worst at L2-L3. XXXX elements from L4 through S1 "
            "are sclerotic. Sacrum and sacroiliac joints are normal. Calcific aortic disease is present.",
            "impression": "1. Chest. No change right upper lobe scar. No acute disease. 2. Lumbosacral spine. "
            "Multiple levels of advanced degenerative disc disease and XXXX arthritis.",
        },
        {"Lung Opacity": 1, "Lung Lesion": 0, "Cardiomegaly": 0, "Enlarged Cardiomediastinum": 0, "No Finding": None},
    ),
    "uid1496": (
        {
            "findings": "",
            "impression": "Status post mediastinal surgery. Significantly improved aeration. Remaining obliteration "
            "of the bilateral pleural sinus, more on left than right side, which may represent scarring alternatively "
            "small pleural effusions. For more detailed evaluation, if clinically indicated, consider decubitus views. "
            "No acute air space disease. No pulmonary edema. Cardiomegaly.",
        },
        {"Pleural Effusion": -1, "Lung Opacity": -1, "Edema": 0, "Cardiomegaly": 1, "Pneumonia": None},
    ),
    "uid2817": (
        {
            "findings": "Evaluation is limited due to obscuration by the patient's arm on the lateral view. "
            "Cardiomediastinal silhouette is within normal limits of size and appearance. Pulmonary vascular is "
            "unremarkable. XXXX are chronic, coarse interstitial lung markings. Peripheral opacity along the right "
            "mid lung XXXX reflects scar or a small amount of loculated pleural fluid or thickening. Otherwise "
            "negative for focal airspace disease or consolidation. Hyperlucent lungs with apical XXXX. Negative for "
            "pneumothorax or pleural effusion. Limited evaluation reveals the XXXX XXXX to be grossly intact.",
            "impression": "1. No acute cardiopulmonary abnormality. 2. Emphysema.",
        },
        {"Enlarged Cardiomediastinum": 0, "Lung Opacity": 1, "Pleural Effusion": -1, "Consolidation": 0,
         "Pneumothorax": 0, "No Finding": None},
    ),
    "uid3325": (
        {"findings": "The heart is normal in size. The mediastinum is unremarkable. The lungs are clear.",
         "impression": "No acute disease."},
        {"No Finding": 1, "Cardiomegaly": 0, "Enlarged Cardiomediastinum": 0, "Lung Opacity": None},
    ),
}


@pytest.mark.parametrize("name", sorted(PASTED))
def test_pasted_real_report(name):
    report, expected = PASTED[name]
    labels = ReportLabeler().label(report).labels
    assert {k: labels[k] for k in expected} == expected


@pytest.fixture(scope="module")
def dev_rows():
    with open(require_iu_reports(), newline="", encoding="utf-8") as f:
        return {r["uid"]: r for r in csv.DictReader(f)}


# Checked by hand against the text in the dev file.
DEV_EXPECTED = {
    "1": {"No Finding": 1, "Cardiomegaly": 0, "Edema": 0, "Consolidation": 0, "Pleural Effusion": 0, "Pneumothorax": 0},
    "2": {"Cardiomegaly": -1, "No Finding": None, "Lung Opacity": None},
    "5": {"Pleural Other": 1, "Pneumothorax": 0, "Pleural Effusion": 0, "Consolidation": 0, "No Finding": None},
    "9": {"Cardiomegaly": 0, "Lung Lesion": -1, "Pleural Effusion": 0, "Pneumothorax": 0, "Consolidation": 0},
    "3273": {"Cardiomegaly": 1, "Consolidation": 0, "Pleural Effusion": 0, "Pneumothorax": 0},
    "974": {"Enlarged Cardiomediastinum": -1, "Edema": 0, "Lung Opacity": 0, "Pneumothorax": 0},
}


@pytest.mark.parametrize("uid", sorted(DEV_EXPECTED))
def test_dev_report_checked_by_hand(dev_rows, uid):
    row = dev_rows[uid]
    labels = ReportLabeler().label({"findings": row["findings"], "impression": row["impression"]}).labels
    assert {k: labels[k] for k in DEV_EXPECTED[uid]} == DEV_EXPECTED[uid]


def test_whole_dev_file_labels_every_row(dev_rows):
    labeler = ReportLabeler()
    results = list(labeler.label_many({"findings": r["findings"], "impression": r["impression"]}
                                      for r in dev_rows.values()))
    assert len(results) == len(dev_rows) == 1896
    for result in results:
        for m in result.mentions:
            assert m.sentence and m.start < m.end and m.grade
    # sanity on the distribution: most IU reports are normal, and hedges do occur
    no_finding = sum(r.labels["No Finding"] == 1 for r in results)
    uncertain = sum(any(v == -1 for v in r.labels.values()) for r in results)
    assert 0.3 < no_finding / len(results) < 0.6
    assert uncertain > 100
