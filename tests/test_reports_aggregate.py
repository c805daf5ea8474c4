from aidemed.reports import ReportLabeler


def labels(text):
    return ReportLabeler().label(text).labels


def test_positive_beats_uncertain_beats_negative():
    assert labels("No effusion. Possible small left effusion.")["Pleural Effusion"] == -1
    assert labels("Possible right effusion. Definite left pleural effusion.")["Pleural Effusion"] == 1
    assert labels("No effusion on the right. Small left effusion.")["Pleural Effusion"] == 1


def test_graded_score_is_the_highest_mention_score():
    result = ReportLabeler().label("Cannot exclude pneumonia. Likely pneumonia in the right base.")
    assert result.scores["Pneumonia"] == 0.75 and result.labels["Pneumonia"] == -1
    assert ReportLabeler().label("No pneumonia.").scores["Pneumonia"] == 0.0


def test_no_finding_rules():
    assert labels("No acute cardiopulmonary abnormality.")["No Finding"] == 1
    assert labels("Heart size normal. No effusion or pneumothorax.")["No Finding"] == 1
    assert labels("Possible pneumonia.")["No Finding"] is None
    assert labels("Small left effusion.")["No Finding"] is None
    # Support Devices do not count against No Finding
    assert labels("Pacemaker in place. Lungs are clear.")["No Finding"] == 1
    # other abnormalities outside the 13 labels do
    assert labels("Hyperinflated lungs compatible with emphysema.")["No Finding"] is None
    assert labels("No emphysema.")["No Finding"] == 1


def test_no_finding_score_complements_the_strongest_hint():
    result = ReportLabeler().label("Possible pneumonia.")
    assert result.scores["No Finding"] == 0.5
    assert ReportLabeler().label("No pneumonia.").scores["No Finding"] == 1.0


def test_empty_and_missing_reports_are_blank():
    for report in ("", "   ", None, {"findings": "", "impression": None}):
        result = ReportLabeler().label(report)
        assert all(v is None for v in result.labels.values()), report
        assert result.empty


def test_label_many_streams_in_order():
    reports = iter(["No pneumothorax.", "", "Pneumothorax."])
    out = [r.labels["Pneumothorax"] for r in ReportLabeler().label_many(reports)]
    assert out == [0, None, 1]
