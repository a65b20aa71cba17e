"""Imported candidate lists and saved Amazon Rekognition responses (files written here in the
documented response shapes of SearchFacesByImage and CompareFaces)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from frbench.errors import DatasetError
from frbench.scoring.imported import import_scores
from frbench.search.imported import candidate_lists_from_frame, read_candidate_lists
from frbench.search.measures import OperatingPoint, search_counts
from frbench.search.protocol import IdentificationSplit
from frbench.search.rekognition import (
    compare_faces_scores,
    external_image_id,
    search_faces_candidates,
    write_scores_csv,
)

GALLERY = pd.DataFrame(
    {"image_id": ["A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg", "C/C_0001.jpg"], "subject_id": ["A", "A", "B", "C"],
     "role": ["enrolled", "enrolled", "enrolled", "distractor"]}
)
PROBES = pd.DataFrame(
    {"image_id": ["A/A_0003.jpg", "B/B_0002.jpg", "X/X_0001.jpg", "Y/Y_0001.jpg"], "subject_id": ["A", "B", "X", "Y"],
     "mated": [True, True, False, False]}
)
SPLIT = IdentificationSplit(GALLERY, PROBES, {})
ATTRS = pd.DataFrame({"image_id": PROBES["image_id"], "gender": ["f", "m", "f", "m"]})


def write(tmp_path, text, name="lists.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_lists_with_problems_are_counted(tmp_path):
    path = write(
        tmp_path,
        "probe,candidate,score,rank\n"
        "A/A_0003.jpg,B/B_0001.jpg,0.7,2\n"
        "A/A_0003.jpg,A/A_0002.jpg,0.9,1\n"
        "A/A_0003.jpg,A/A_0001.jpg,0.6,3\n"  # line 4: another image of A, already listed
        "A/A_0003.jpg,B/B_0001.jpg,0.7,4\n"  # line 5: repeats line 2
        "B/B_0002.jpg,Q/Q_0001.jpg,0.8,1\n"  # line 6: unknown candidate
        "B/B_0002.jpg,C/C_0001.jpg,0.4,2\n"
        "B/B_0002.jpg,B/B_0001.jpg,0.5,3\n"  # score rises with rank: an order conflict
        "Z/Z_0001.jpg,A/A_0001.jpg,0.5,1\n"  # line 9: unknown probe
        "X/X_0001.jpg,,,\n",  # X searched, nothing returned; Y never searched
    )
    imp = read_candidate_lists(path, SPLIT, ATTRS)
    p = imp.problems
    assert p["same_subject_rows"].count == 1 and p["same_subject_rows"].examples[0].startswith(f"{path}:4:")
    assert p["duplicate_rows"].count == 1 and f"{path}:5:" in p["duplicate_rows"].examples[0]
    assert p["unknown_candidates"].count == 1 and f"{path}:6:" in p["unknown_candidates"].examples[0]
    assert p["unknown_probes"].count == 1 and f"{path}:9:" in p["unknown_probes"].examples[0]
    assert p["order_conflicts"].count == 1
    assert p["missing_searches"].count == 1 and "Y/Y_0001.jpg" in p["missing_searches"].examples[0]
    s = imp.table.searches.set_index("probe_id")
    assert s.loc["A/A_0003.jpg", "mate_rank"] == 1 and s.loc["A/A_0003.jpg", "mate_score"] == 0.9
    # B's list after dropping the unknown candidate: C (rank 1), B (rank 2)
    assert s.loc["B/B_0002.jpg", "mate_rank"] == 2 and s.loc["B/B_0002.jpg", "top_score"] == 0.5
    assert s.loc["X/X_0001.jpg", "ok"] and s.loc["X/X_0001.jpg", "n_candidates"] == 0
    assert not s.loc["Y/Y_0001.jpg", "ok"]
    counts = search_counts(imp.table, [OperatingPoint("t", 2, 0.45)], ["gender"])
    r = counts.iloc[0]
    # A: mate at rank 1, .9 -> hit; B: mate at rank 2, .5 -> hit; X: empty list -> no false positive
    assert (r[["n_mated", "n_fnm", "n_nonmated", "n_fm", "n_failed"]] == [2, 0, 1, 0, 1]).all()
    assert imp.summary()["missing_searches"]["count"] == 1


def test_length_cuts_lists_and_subject_ids_are_accepted(tmp_path):
    path = write(tmp_path, "probe,candidate,score,rank\nA/A_0003.jpg,B,0.9,1\nA/A_0003.jpg,A,0.8,2\nB/B_0002.jpg,B,0.7,1\n")
    imp = read_candidate_lists(path, SPLIT, candidate_ids="subject_id", length=1)
    assert imp.problems["beyond_length"].count == 1
    s = imp.table.searches.set_index("probe_id")
    assert np.isnan(s.loc["A/A_0003.jpg", "mate_rank"]) and s.loc["B/B_0002.jpg", "mate_rank"] == 1
    assert imp.table.candidates["candidate_id"].tolist() == ["B/B_0001.jpg", "B/B_0001.jpg"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("probe,candidate,score\nA/A_0003.jpg,B/B_0001.jpg,0.5\n", r"lists.csv:1: missing column\(s\) \['rank'\]"),
        ("probe,candidate,score,rank\nA/A_0003.jpg,B/B_0001.jpg,high,1\n", r"lists.csv:2: score 'high' is not a finite number"),
        ("probe,candidate,score,rank\nA/A_0003.jpg,B/B_0001.jpg,0.5,0\n", r"lists.csv:2: rank '0' is not an integer >= 1"),
        ("probe,candidate,score,rank\nA/A_0003.jpg,B/B_0001.jpg,0.5,1.5\n", r"lists.csv:2: rank '1.5'"),
        ("probe,candidate,score,rank\nA/A_0003.jpg,,0.5,1\n", r"lists.csv:2: candidate, score and rank must all be given"),
        ("probe,candidate,score,rank\n,B/B_0001.jpg,0.5,1\n", r"lists.csv:2: empty probe"),
        ("probe,candidate,score,rank\nA/A_0003.jpg,B/B_0001.jpg,nan,1\n", r"lists.csv:2: score 'nan'"),
    ],
)
def test_malformed_lists_name_file_and_line(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message):
        read_candidate_lists(write(tmp_path, text), SPLIT)


def search_response(matches):
    """A SearchFacesByImage response in the documented shape (API Reference, SearchFacesByImage)."""
    return {
        "SearchedFaceBoundingBox": {"Width": 0.4, "Height": 0.5, "Left": 0.3, "Top": 0.2},
        "SearchedFaceConfidence": 99.98,
        "FaceMatches": [
            {
                "Similarity": sim,
                "Face": {
                    "FaceId": f"0000000{i}-1111-2222-3333-444444444444",
                    "BoundingBox": {"Width": 0.4, "Height": 0.5, "Left": 0.3, "Top": 0.2},
                    "ImageId": f"5555555{i}-1111-2222-3333-444444444444",
                    "ExternalImageId": external_image_id(ext),
                    "Confidence": 99.9,
                    "IndexFacesModelVersion": "7.0",
                },
            }
            for i, (ext, sim) in enumerate(matches)
        ],
        "FaceModelVersion": "7.0",
        "ResponseMetadata": {"RequestId": "r", "HTTPStatusCode": 200},
    }


def test_search_faces_responses_become_candidate_lists(tmp_path):
    (tmp_path / "r").mkdir()
    files = {
        "r/a.json": search_response([("A/A_0001.jpg", 99.2), ("A/A_0002.jpg", 97.0), ("B/B_0001.jpg", 81.5)]),
        "r/b.json": search_response([("C/C_0001.jpg", 85.0)]),
        "r/x.json": search_response([]),  # nothing above FaceMatchThreshold
        "r/y.json": {"Error": {"Code": "InvalidParameterException", "Message": "There are no faces in the image."}},
    }
    for name, data in files.items():
        (tmp_path / name).write_text(json.dumps(data, indent=2))
    index = write(tmp_path, "response,probe\nr/a.json,A/A_0003.jpg\nr/b.json,B/B_0002.jpg\nr/x.json,X/X_0001.jpg\nr/y.json,Y/Y_0001.jpg\n", "index.csv")
    frame, errors = search_faces_candidates(index)
    assert errors["code"].tolist() == ["InvalidParameterException"]
    assert frame.loc[frame["probe"] == "A/A_0003.jpg", "candidate"].tolist() == ["A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"]
    imp = candidate_lists_from_frame(frame, str(index), SPLIT, ATTRS, length=50)
    s = imp.table.searches.set_index("probe_id")
    assert s.loc["A/A_0003.jpg", "mate_rank"] == 1 and s.loc["A/A_0003.jpg", "mate_score"] == 99.2
    assert s.loc["A/A_0003.jpg", "n_candidates"] == 2  # A's second image is the same candidate
    assert imp.problems["same_subject_rows"].count == 1
    assert np.isnan(s.loc["B/B_0002.jpg", "mate_rank"]) and s.loc["B/B_0002.jpg", "top_subject"] == "C"
    assert s.loc["X/X_0001.jpg", "ok"] and s.loc["X/X_0001.jpg", "n_candidates"] == 0
    assert not s.loc["Y/Y_0001.jpg", "ok"] and imp.problems["missing_searches"].count == 1
    r = search_counts(imp.table, [OperatingPoint("t=90", 50, 90.0)], []).iloc[0]
    assert (r[["n_mated", "n_fnm", "n_nonmated", "n_fm", "n_failed"]] == [2, 1, 1, 0, 1]).all()


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"FaceMatches": [\n  {"Similarity": 120, "Face": {"ExternalImageId": "A:A_0001.jpg"}}]}', r"a.json: FaceMatches\[0\].Similarity is 120"),
        ('{"FaceMatches": [{"Similarity": 90, "Face": {}}]}', r"FaceMatches\[0\].Face has no ExternalImageId: give a FaceId map"),
        ('{"FaceRecords": []}', "not a saved SearchFacesByImage response"),
        ('{"FaceMatches": [\n  {"Similarity": 90,}\n]}', r"a.json:2: not valid JSON"),
    ],
)
def test_malformed_search_responses_are_refused(tmp_path, content, message):
    (tmp_path / "a.json").write_text(content)
    index = write(tmp_path, "response,probe\na.json,A/A_0003.jpg\n", "index.csv")
    with pytest.raises(DatasetError, match=message):
        search_faces_candidates(index)


def test_missing_response_file_names_the_index_line(tmp_path):
    index = write(tmp_path, "response,probe\nnone.json,A/A_0003.jpg\n", "index.csv")
    with pytest.raises(DatasetError, match=r"index.csv:2: response file .*none.json not found"):
        search_faces_candidates(index)


def compare_response(similarities, unmatched):
    face = {"BoundingBox": {"Width": 0.3, "Height": 0.4, "Left": 0.1, "Top": 0.1}, "Confidence": 99.9}
    return {
        "SourceImageFace": face,
        "FaceMatches": [{"Similarity": s, "Face": {**face, "Landmarks": [], "Pose": {}, "Quality": {}}} for s in similarities],
        "UnmatchedFaces": [face] * unmatched,
    }


def test_compare_faces_responses_become_scores(tmp_path):
    files = {
        "m.json": compare_response([88.5, 99.0], 1),  # two target faces match: the best is the score
        "u.json": compare_response([], 2),  # faces found, all below SimilarityThreshold
        "n.json": compare_response([], 0),  # no face in the target
        "e.json": {"__type": "com.amazonaws.rekognition#InvalidParameterException", "message": "no face"},
    }
    for name, data in files.items():
        (tmp_path / name).write_text(json.dumps(data))
    index = write(
        tmp_path,
        "response,image_a,image_b\nm.json,A/A_0001.jpg,A/A_0003.jpg\nu.json,A/A_0001.jpg,B/B_0001.jpg\n"
        "n.json,B/B_0001.jpg,C/C_0001.jpg\ne.json,B/B_0002.jpg,C/C_0001.jpg\n",
        "index.csv",
    )
    scores = compare_faces_scores(index)
    assert scores["status"].tolist() == ["match", "below_threshold", "no_face", "error"]
    assert scores["score"].iloc[0] == 99.0 and scores["score"].iloc[1:].isna().all()
    assert scores["n_matched"].tolist() == [2, 0, 0, 0] and scores["n_unmatched"].tolist() == [1, 2, 0, 0]
    write_scores_csv(scores, tmp_path / "scores.csv")
    images = pd.DataFrame({"image_id": [*GALLERY["image_id"], *PROBES["image_id"]],
                           "subject_id": [*GALLERY["subject_id"], *PROBES["subject_id"]], "path": ""})
    imported = import_scores(tmp_path / "scores.csv", images, None, "similarity")
    pairs = imported.pairs
    assert pairs["ok"].tolist() == [True, False, False, False]
    assert pairs["mated"].tolist() == [True, False, False, False] and pairs["score"].iloc[0] == 99.0
