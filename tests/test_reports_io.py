"""`aidemed reports label`: formats, alignment, bad input, parallel runs."""

import csv
import json

import pytest

from aidemed.cli.main import main
from aidemed.data.io import DataError
from aidemed.reports.io import label_csv


def write_csv(path, rows, header=("uid", "findings", "impression")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


ROWS = [
    ("a1", "Heart size is normal. No pleural effusion.", "No acute disease."),
    ("a2", "", ""),
    ("a3", "Small right pleural effusion.", "Cannot exclude pneumonia."),
    ("a4", "Lungs are clear.", ""),
]


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_chexpert_format_rows_aligned(tmp_path, capsys):
    src = write_csv(tmp_path / "in.csv", ROWS)
    out = tmp_path / "labels.csv"
    rc = main(["reports", "label", str(src), "--text-col", "impression", "--text-col", "findings",
               "--id-col", "uid", "-o", str(out)])
    assert rc == 0
    rows = read(out)
    assert [r["uid"] for r in rows] == ["a1", "a2", "a3", "a4"]
    assert list(rows[0])[:3] == ["uid", "No Finding", "Enlarged Cardiomediastinum"]
    assert rows[0]["Cardiomegaly"] == "0" and rows[0]["No Finding"] == "1"
    assert all(v == "" for k, v in rows[1].items() if k != "uid")  # empty text: blank row
    assert rows[2]["Pleural Effusion"] == "1" and rows[2]["Pneumonia"] == "-1"
    assert rows[3]["No Finding"] == "1"
    assert "labelled 4 report(s)" in capsys.readouterr().err


def test_graded_and_jsonl_formats(tmp_path):
    src = write_csv(tmp_path / "in.csv", ROWS)
    graded = tmp_path / "graded.csv"
    main(["reports", "label", str(src), "--text-col", "findings", "--text-col", "impression",
          "--format", "graded", "-o", str(graded)])
    rows = read(graded)
    assert rows[2]["Pneumonia"] == "0.3" and rows[2]["Pleural Effusion"] == "1" and rows[0]["Pleural Effusion"] == "0"
    jsonl = tmp_path / "out.jsonl"
    main(["reports", "label", str(src), "--text-col", "findings", "--text-col", "impression",
          "--format", "jsonl", "--id-col", "uid", "-o", str(jsonl)])
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["uid"] for r in records] == ["a1", "a2", "a3", "a4"]
    pneumonia = [m for m in records[2]["mentions"] if m["observation"] == "Pneumonia"][0]
    assert pneumonia["section"] == "impression" and pneumonia["cue"] == "Cannot exclude"
    assert ROWS[2][2][pneumonia["start"]:pneumonia["end"]] == "pneumonia"
    assert pneumonia["grade"] == "cannot_exclude" and pneumonia["score"] == 0.3


def test_single_text_column_is_split_into_sections(tmp_path):
    src = write_csv(tmp_path / "in.csv", [("1", "INDICATION: rule out pneumonia.\nFINDINGS: Pneumothorax.")],
                    header=("id", "report"))
    out = tmp_path / "o.csv"
    main(["reports", "label", str(src), "-o", str(out)])  # "report" column found by name
    row = read(out)[0]
    assert row["Pneumothorax"] == "1" and row["Pneumonia"] == ""


def test_undecodable_bytes_are_replaced_and_counted(tmp_path, capsys):
    src = tmp_path / "bad.csv"
    src.write_bytes(b"uid,report\n1,No pneumothorax \xff\xfe here.\n2,Small effusion.\n")
    out = tmp_path / "o.csv"
    assert main(["reports", "label", str(src), "-o", str(out)]) == 0
    assert "2 undecodable byte(s) replaced" in capsys.readouterr().err
    rows = read(out)
    assert rows[0]["Pneumothorax"] == "0" and rows[1]["Pleural Effusion"] == "1"


def test_megabyte_report(tmp_path):
    big = ("The lungs are clear. " * 40000) + "Possible pneumonia." + (" No effusion" * 20000)
    assert len(big) > 1_000_000
    src = write_csv(tmp_path / "big.csv", [("1", big, "")])
    out = tmp_path / "o.csv"
    assert main(["reports", "label", str(src), "--text-col", "findings", "-o", str(out)]) == 0
    row = read(out)[0]
    assert row["Pneumonia"] == "-1" and row["Pleural Effusion"] == "0"


def test_malformed_csv_names_the_line(tmp_path, capsys):
    src = tmp_path / "bad.csv"
    src.write_text('uid,report\n1,"fine"\n2,"also fine"\n3,"broken "quote" here"\n')
    rc = main(["reports", "label", str(src), "-o", str(tmp_path / "o.csv")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "bad.csv line 4" in err and "malformed CSV" in err
    src.write_text("uid,report\n1,ok\n2,too,many\n")
    with pytest.raises(DataError, match=r"bad.csv line 3: expected 2 fields, found 3"):
        label_csv(src, open(tmp_path / "o2.csv", "w"))


def test_missing_column_is_named(tmp_path, capsys):
    src = write_csv(tmp_path / "in.csv", ROWS)
    assert main(["reports", "label", str(src), "--text-col", "report_text", "-o", str(tmp_path / "o.csv")]) == 2
    assert "in.csv: no column 'report_text'" in capsys.readouterr().err


def test_jobs_2_gives_the_same_rows_in_order(tmp_path):
    rows = [(str(i), ROWS[i % 4][1], ROWS[i % 4][2]) for i in range(2500)]
    src = write_csv(tmp_path / "in.csv", rows)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    with open(one, "w", newline="") as f:
        label_csv(src, f, ("findings", "impression"), id_column="uid", jobs=1, chunk_rows=300)
    with open(two, "w", newline="") as f:
        stats = label_csv(src, f, ("findings", "impression"), id_column="uid", jobs=2, chunk_rows=300)
    assert stats.rows == 2500
    assert one.read_text() == two.read_text()
    assert [r["uid"] for r in read(two)] == [str(i) for i in range(2500)]
