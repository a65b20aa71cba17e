"""AWS's own example responses (botocore's Rekognition service examples) through frbench's readers.

botocore ships them in its wheel (botocore/data/rekognition/2016-06-27/examples-1.json); its faces are
indexed without an ExternalImageId, so the search reads them through a FaceId map.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from frbench.errors import DatasetError
from frbench.search.rekognition import (
    compare_faces_scores, face_ids_from_csv, face_ids_from_index_faces, search_faces_candidates,
)


@pytest.fixture(scope="module")
def examples() -> dict:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("botocore not installed (extra 'formats')")
    path = Path(spec.submodule_search_locations[0]) / "data" / "rekognition" / "2016-06-27" / "examples-1.json"
    return {op: runs[0]["output"] for op, runs in json.loads(path.read_text())["examples"].items()}


def _save(folder: Path, name: str, response: dict) -> None:
    (folder / name).write_text(json.dumps(response))


def test_aws_search_example_without_external_image_id_is_refused_naming_the_fix(tmp_path, examples):
    _save(tmp_path, "search.json", examples["SearchFacesByImage"])
    (tmp_path / "index.csv").write_text("response,probe\nsearch.json,alice/2.jpg\n")
    with pytest.raises(DatasetError, match="has no ExternalImageId: give a FaceId map"):
        search_faces_candidates(tmp_path / "index.csv")


def test_aws_search_example_reads_through_a_face_id_csv(tmp_path, examples):
    _save(tmp_path, "search.json", examples["SearchFacesByImage"])
    (tmp_path / "index.csv").write_text("response,probe\nsearch.json,alice/2.jpg\n")
    face_id = examples["SearchFacesByImage"]["FaceMatches"][0]["Face"]["FaceId"]
    (tmp_path / "faces.csv").write_text(f"face_id,image_id\n{face_id},alice/1.jpg\n")
    candidates, errors = search_faces_candidates(tmp_path / "index.csv", face_ids_from_csv(tmp_path / "faces.csv"))
    assert errors.empty
    assert candidates.to_dict("records") == [
        {"probe": "alice/2.jpg", "candidate": "alice/1.jpg",
         "score": repr(examples["SearchFacesByImage"]["FaceMatches"][0]["Similarity"]), "rank": "1"}
    ]


def test_a_face_id_missing_from_the_map_is_named(tmp_path, examples):
    _save(tmp_path, "search.json", examples["SearchFacesByImage"])
    (tmp_path / "index.csv").write_text("response,probe\nsearch.json,alice/2.jpg\n")
    with pytest.raises(DatasetError, match=r"FaceMatches\[0\].Face.FaceId '38271d79-.*' is not in the FaceId map"):
        search_faces_candidates(tmp_path / "index.csv", {"other": "bob/1.jpg"})


def test_saved_index_faces_responses_map_each_face_id_to_the_image_indexed(tmp_path, examples):
    _save(tmp_path, "index-faces.json", examples["IndexFaces"])
    (tmp_path / "indexed.csv").write_text("response,image_id\nindex-faces.json,alice/1.jpg\n")
    mapping = face_ids_from_index_faces(tmp_path / "indexed.csv")
    expected = {r["Face"]["FaceId"] for r in examples["IndexFaces"]["FaceRecords"]}
    assert set(mapping) == expected and set(mapping.values()) == {"alice/1.jpg"}


def test_aws_compare_faces_example_becomes_one_scored_pair(tmp_path, examples):
    _save(tmp_path, "compare.json", examples["CompareFaces"])
    (tmp_path / "index.csv").write_text("response,image_a,image_b\ncompare.json,alice/1.jpg,alice/2.jpg\n")
    scores = compare_faces_scores(tmp_path / "index.csv")
    row = scores.iloc[0]
    assert (row["score"], row["status"], row["n_matched"]) == (100.0, "match", 1)
