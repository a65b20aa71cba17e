"""Label files: the format round-trips, later answers supersede, and every bad row is refused by line."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from frbench.cli import main
from frbench.errors import DatasetError
from frbench.label.files import (
    LABEL_COLUMNS,
    TOOL,
    label_row,
    latest_answers,
    parse_utc,
    read_annotator_files,
    read_label_file,
    utc_timestamp,
    write_label_file,
)

HEADER = ",".join(LABEL_COLUMNS)


def write(path: Path, *lines: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_round_trip_and_supersede(tmp_path):
    rows = [
        label_row("Ann", ["Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg"], "kim", "lighter", 3, "2026-12-01T10:00:00.000Z"),
        label_row("Bob", ["Bob/Bob_0001.jpg"], "kim", "darker", None, "2026-12-01T10:00:02.000Z"),
        label_row("Ann", ["Ann/Ann_0001.jpg"], "kim", "unsure", "10", "2026-12-01T10:00:05.000Z"),
    ]
    path = tmp_path / "kim.csv"
    write_label_file(path, rows)
    assert path.read_text().splitlines()[0] == HEADER
    read = read_label_file(path)
    assert read["line"].tolist() == [2, 3, 4]
    assert read["monk"].tolist() == ["3", "", "10"]
    assert read["image_id"].iloc[0] == "Ann/Ann_0001.jpg;Ann/Ann_0002.jpg"
    assert (read["tool"] == TOOL).all()
    current = latest_answers(read).set_index("subject_id")
    assert current.loc["Ann", "skin_tone_binary"] == "unsure"  # the later row wins
    assert current.loc["Ann", "monk"] == "10"
    assert len(current) == 2


def test_header_only_file_is_empty(tmp_path):
    assert read_label_file(write(tmp_path / "a.csv")).empty


def test_blank_lines_are_skipped_and_lines_counted(tmp_path):
    path = write(tmp_path / "a.csv", "", "S,S/1.jpg,kim,darker,,2026-12-01T10:00:00Z,x", "", "T,T/1.jpg,kim,bogus,,2026-12-01T10:00:00Z,x")
    with pytest.raises(DatasetError, match=r"a\.csv:5: skin_tone_binary 'bogus'"):
        read_label_file(path)


def test_quoted_cell_spanning_lines_keeps_line_numbers(tmp_path):
    path = write(tmp_path / "a.csv", 'S,"S/1.jpg",kim,lighter,,2026-12-01T10:00:00Z,"two\nlines"', "T,T/1.jpg,kim,lighter,11,2026-12-01T10:00:00Z,x")
    with pytest.raises(DatasetError, match=r"a\.csv:4: monk '11'"):
        read_label_file(path)


OK_ROW = "S,S/1.jpg,kim,lighter,4,2026-12-01T10:00:00Z,frbench-label 0.1.0"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("S,S/1.jpg,kim,Lighter,,2026-12-01T10:00:00Z,t", "skin_tone_binary 'Lighter' is not one of lighter, darker, unsure"),
        ("S,S/1.jpg,kim,,,2026-12-01T10:00:00Z,t", "skin_tone_binary ''"),
        ("S,S/1.jpg,kim,darker,0,2026-12-01T10:00:00Z,t", "monk '0' is not a Monk Skin Tone 1-10"),
        ("S,S/1.jpg,kim,darker,5.5,2026-12-01T10:00:00Z,t", "monk '5.5'"),
        ("S,S/1.jpg,kim,darker,,2026-12-01 10:00:00,t", "labelled_at '2026-12-01 10:00:00' is not an ISO-8601 UTC time"),
        ("S,S/1.jpg,kim,darker,,2026-12-01T10:00:00+01:00,t", "not an ISO-8601 UTC time"),
        ("S,S/1.jpg,kim,darker,,2026-13-01,t", "not an ISO-8601 UTC time"),  # no 13th month
        ("S,S/1.jpg,kim,darker,,01-12-2026,t", "not an ISO-8601 UTC time"),
        ("S,S/1.jpg,kim,darker,,yesterday,t", "not an ISO-8601 UTC time"),
        (",S/1.jpg,kim,darker,,2026-12-01T10:00:00Z,t", "empty subject_id"),
        ("S,,kim,darker,,2026-12-01T10:00:00Z,t", "empty image_id"),
        ("S,S/1.jpg,kim,darker,,2026-12-01T10:00:00Z,", "empty tool"),
        ("S,S/1.jpg,lee,darker,,2026-12-01T10:00:00Z,t", "annotator 'lee' in a file of 'kim'"),
        ("S,S/1.jpg,kim,darker,,2026-12-01T10:00:00Z", "6 fields, the header has 7"),
        ("S,S/1.jpg,kim,darker,,2026-12-01T10:00:00Z,t,extra", "8 fields, the header has 7"),
    ],
)
def test_bad_rows_are_refused_with_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "kim.csv", OK_ROW, line)
    with pytest.raises(DatasetError) as info:
        read_label_file(path)
    assert "kim.csv:3: " in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "header",
    [
        "subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at",
        "subject,image_id,annotator,skin_tone_binary,monk,labelled_at,tool",
        "image_id,subject_id,annotator,skin_tone_binary,monk,labelled_at,tool",
        "subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at,tool,note",
    ],
)
def test_other_headers_are_refused(tmp_path, header):
    with pytest.raises(DatasetError, match=r"x\.csv:1: header"):
        read_label_file(write(tmp_path / "x.csv", OK_ROW, header=header))


def test_bad_annotator_name_missing_file_empty_file_and_non_utf8(tmp_path):
    with pytest.raises(DatasetError, match=r"a\.csv:2: annotator 'k m'"):
        read_label_file(write(tmp_path / "a.csv", "S,S/1.jpg,k m,darker,,2026-12-01T10:00:00Z,t"))
    with pytest.raises(DatasetError, match="label file not found"):
        read_label_file(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match=r"empty\.csv:1: the file is empty"):
        read_label_file(tmp_path / "empty.csv")
    (tmp_path / "latin.csv").write_bytes((HEADER + "\nS\xe9,S/1.jpg,kim,darker,,2026-12-01T10:00:00Z,t\n").encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        read_label_file(tmp_path / "latin.csv")


def test_subject_outside_the_dataset_is_refused(tmp_path):
    path = write(tmp_path / "a.csv", OK_ROW, "Zed,Z/1.jpg,kim,darker,,2026-12-01T10:00:00Z,t")
    assert len(read_label_file(path, subjects=["S", "Zed"])) == 2
    with pytest.raises(DatasetError, match=r"a\.csv:3: subject 'Zed' is not in the dataset"):
        read_label_file(path, subjects=["S"])


def test_consensus_files_read_and_refused_as_annotator_files(tmp_path):
    header = HEADER + ",n_annotators,n_agree"
    path = write(tmp_path / "c.csv", "S,S/1.jpg,consensus,lighter,4,2026-12-01T10:00:00Z,t,3,2", header=header)
    read = read_label_file(path)
    assert read[["n_annotators", "n_agree"]].iloc[0].tolist() == [3, 2]
    with pytest.raises(DatasetError, match="a consensus file"):
        read_annotator_files([path])
    bad = write(tmp_path / "d.csv", "S,S/1.jpg,consensus,lighter,4,2026-12-01T10:00:00Z,t,2,3", header=header)
    with pytest.raises(DatasetError, match=r"d\.csv:2: n_agree 3 exceeds n_annotators 2"):
        read_label_file(bad)
    with pytest.raises(DatasetError, match="reserved for consensus files"):
        read_label_file(write(tmp_path / "e.csv", "S,S/1.jpg,consensus,lighter,4,2026-12-01T10:00:00Z,t"))


def test_two_files_of_one_annotator_are_refused(tmp_path):
    a = write(tmp_path / "a.csv", OK_ROW)
    b = write(tmp_path / "b.csv", OK_ROW)
    with pytest.raises(DatasetError, match=r"b\.csv: annotator 'kim' also has .*a\.csv"):
        read_annotator_files([a, b])


def test_timestamps_are_utc_iso8601():
    stamp = utc_timestamp(datetime(2026, 12, 1, 11, 30, tzinfo=timezone.utc))
    assert stamp == "2026-12-01T11:30:00.000Z"
    assert parse_utc(stamp) == datetime(2026, 12, 1, 11, 30, tzinfo=timezone.utc)
    assert parse_utc(utc_timestamp()).tzinfo is not None


def test_label_row_refuses_what_the_reader_refuses():
    with pytest.raises(DatasetError, match="'maybe'"):
        label_row("S", ["S/1.jpg"], "kim", "maybe", None)
    with pytest.raises(DatasetError, match="Monk value 11"):
        label_row("S", ["S/1.jpg"], "kim", "darker", 11)
    with pytest.raises(DatasetError, match="annotator name"):
        label_row("S", ["S/1.jpg"], "k,m", "darker", None)
    with pytest.raises(DatasetError, match="free of ';'"):
        label_row("S", ["S/1;2.jpg"], "kim", "darker", None)


def test_cli_agreement_names_file_and_line_without_traceback(tmp_path):
    bad = write(tmp_path / "kim.csv", OK_ROW, "S,S/1.jpg,kim,maybe,,2026-12-01T10:00:00Z,t")
    result = CliRunner().invoke(main, ["label", "agreement", str(bad)])
    assert result.exit_code == 2
    assert "kim.csv:3: skin_tone_binary 'maybe'" in result.output
    assert "Traceback" not in result.output


def test_a_bare_calendar_date_is_a_valid_time(tmp_path):
    # Hand-made files often record only the day the labels were made; it reads as 00:00 UTC.
    from frbench.label.files import parse_utc, read_label_file

    path = tmp_path / "annotator-kim.csv"
    path.write_text("subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at,tool\nS,S/1.jpg,kim,darker,7,2026-12-01,montage\n")
    assert read_label_file(path)["labelled_at"].tolist() == ["2026-12-01"]
    assert parse_utc("2026-12-01").isoformat() == "2026-12-01T00:00:00+00:00"
