"""Saved Amazon Rekognition responses, one JSON file per request, as candidate lists or 1:1 scores.

Response shapes (Amazon Rekognition API Reference, "SearchFacesByImage", "CompareFaces",
"FaceMatch", "CompareFacesMatch", "Face"), as the AWS CLI prints them and boto3 returns them
(boto3 adds ``ResponseMetadata``, ignored here):

* ``SearchFacesByImage``: ``{"SearchedFaceBoundingBox": {...}, "SearchedFaceConfidence": 99.9,
  "FaceMatches": [{"Similarity": 97.3, "Face": {"FaceId": "...", "ExternalImageId": "...",
  ...}}, ...], "FaceModelVersion": "7"}``; matches come best first, with ``Similarity`` in
  [0, 100]. Only matches at or above the request's ``FaceMatchThreshold`` (default 80) and at
  most ``MaxFaces`` are returned: request threshold 0 and ``MaxFaces`` >= L to measure FNIR and
  FPIR at any threshold, or every threshold below the request's is out of reach.
* ``CompareFaces``: ``{"SourceImageFace": {...}, "FaceMatches": [{"Similarity": 99.1, "Face":
  {...}}], "UnmatchedFaces": [{...}], ...}``; a target face below the request's
  ``SimilarityThreshold`` is in ``UnmatchedFaces`` without a similarity.

``ExternalImageId`` allows only ``[a-zA-Z0-9_.\\-:]`` (no ``/``): frbench expects the gallery
image id, or the subject id, with every ``/`` written as ``:`` when the faces were indexed
(:func:`external_image_id`), and reads ``:`` back as ``/``. Faces indexed without an
``ExternalImageId`` (AWS's own examples, many deployments) are named through a ``FaceId`` map
instead: :func:`face_ids_from_csv` (``face_id, image_id``) or :func:`face_ids_from_index_faces`
(the saved ``IndexFaces`` responses, each listed with the image it indexed).

A saved error (boto3's ``{"Error": {"Code": ..., "Message": ...}}`` or the service's
``{"__type": ..., "message": ...}``, e.g. ``InvalidParameterException`` when the probe has no
face) is a failed request: no candidate rows for a search (so it is a missing search, failed),
``status = "error"`` for a comparison. Every response file is listed in an index CSV: columns
``response`` (path relative to the index's folder) and ``probe`` (search) or ``image_a``,
``image_b`` (comparison).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from frbench.errors import DatasetError
from frbench.io.csv_rows import read_csv_rows

COMPARE_STATUSES = ("match", "below_threshold", "no_face", "error")


def external_image_id(image_id: str) -> str:
    """The ``ExternalImageId`` to index a gallery image under: its id with ``/`` written as ``:``."""
    return image_id.replace("/", ":")


def _load(path: Path, where: str) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetError(f"{where}: response file {path} not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _error(data: dict[str, Any]) -> str | None:
    if isinstance(data.get("Error"), dict):
        return str(data["Error"].get("Code", "error"))
    if "__type" in data:
        return str(data["__type"]).rsplit("#", 1)[-1]
    return None


def _similarity(value: Any, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 100:
        raise DatasetError(f"{path}: {where} is {value!r}, not a number in [0, 100]")
    return float(value)


def _matches(data: dict[str, Any], path: Path, operation: str) -> list[Any]:
    if "FaceMatches" not in data:
        raise DatasetError(f"{path}: no FaceMatches: not a saved {operation} response")
    matches = data["FaceMatches"]
    if not isinstance(matches, list):
        raise DatasetError(f"{path}: FaceMatches is not a list")
    return matches


def _index(index_csv: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    table = read_csv_rows(Path(index_csv))
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DatasetError(f"{index_csv}:1: missing column(s) {missing}")
    for col in columns:
        empty = table[col] == ""
        if empty.any():
            raise DatasetError(f"{index_csv}:{empty.idxmax()}: empty {col}")
    return table


def face_ids_from_csv(path: Path) -> dict[str, str]:
    """``FaceId`` -> image id from a CSV with columns ``face_id, image_id`` (one row per indexed face)."""
    path = Path(path)
    table = _index(path, ("face_id", "image_id"))
    repeated = table["face_id"].duplicated(keep=False) & ~table.duplicated(["face_id", "image_id"], keep=False)
    if repeated.any():
        line = repeated[repeated].index[1]
        raise DatasetError(f"{path}:{line}: face_id {table.at[line, 'face_id']!r} already names another image")
    return dict(zip(table["face_id"], table["image_id"]))


def face_ids_from_index_faces(index_csv: Path) -> dict[str, str]:
    """``FaceId`` -> image id from saved ``IndexFaces`` responses.

    ``index_csv`` lists them: ``response`` (path relative to its folder) and ``image_id`` (the
    image that request indexed). Every ``FaceRecords[].Face.FaceId`` of a response maps to its
    image (an image with several indexed faces gives several FaceIds); a saved error adds none.
    """
    index_csv = Path(index_csv)
    table = _index(index_csv, ("response", "image_id"))
    out: dict[str, str] = {}
    for line, rec in table.iterrows():
        path = (index_csv.parent / rec["response"]).resolve()
        data = _load(path, f"{index_csv}:{line}")
        if _error(data) is not None:
            continue
        records = data.get("FaceRecords")
        if not isinstance(records, list):
            raise DatasetError(f"{path}: no FaceRecords list: not a saved IndexFaces response")
        for i, record in enumerate(records):
            face = record.get("Face") if isinstance(record, dict) else None
            face_id = face.get("FaceId") if isinstance(face, dict) else None
            if not isinstance(face_id, str) or not face_id:
                raise DatasetError(f"{path}: FaceRecords[{i}].Face.FaceId is missing")
            if out.get(face_id, rec["image_id"]) != rec["image_id"]:
                raise DatasetError(f"{path}: FaceId {face_id!r} was indexed for {out[face_id]!r} too")
            out[face_id] = rec["image_id"]
    return out


def search_faces_candidates(index_csv: Path, face_ids: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidate rows from saved ``SearchFacesByImage`` responses.

    A match is named by its ``ExternalImageId``, or, where the face was indexed without one, by
    ``face_ids[FaceId]`` (:func:`face_ids_from_csv`, :func:`face_ids_from_index_faces`).

    Returns
    -------
    candidates : DataFrame
        ``probe, candidate, score, rank`` as strings, indexed by the index CSV's line: one row
        per match (candidate = ``ExternalImageId`` with ``:`` read as ``/``, score = Similarity,
        rank = position in FaceMatches), and one row with empty candidate, score and rank for a
        search that matched nothing. Feed it to
        :func:`frbench.search.imported.candidate_lists_from_frame`.
    errors : DataFrame
        ``probe, response, code`` of the saved error responses (their probes get no row).
    """
    index_csv = Path(index_csv)
    table = _index(index_csv, ("response", "probe"))
    rows, lines, errors = [], [], []
    for line, rec in table.iterrows():
        path = (index_csv.parent / rec["response"]).resolve()
        data = _load(path, f"{index_csv}:{line}")
        code = _error(data)
        if code is not None:
            errors.append({"probe": rec["probe"], "response": str(path), "code": code})
            continue
        matches = _matches(data, path, "SearchFacesByImage")
        if not matches:
            rows.append((rec["probe"], "", "", ""))
            lines.append(line)
        for i, match in enumerate(matches):
            face = match.get("Face") if isinstance(match, dict) else None
            ext = face.get("ExternalImageId") if isinstance(face, dict) else None
            if not isinstance(ext, str) or not ext:
                face_id = face.get("FaceId") if isinstance(face, dict) else None
                if face_ids is None:
                    raise DatasetError(
                        f"{path}: FaceMatches[{i}].Face has no ExternalImageId: give a FaceId map (saved IndexFaces "
                        "responses, or a CSV of face_id, image_id)"
                    )
                if face_id not in face_ids:
                    raise DatasetError(f"{path}: FaceMatches[{i}].Face.FaceId {face_id!r} is not in the FaceId map")
                ext = external_image_id(face_ids[face_id])
            sim = _similarity(match.get("Similarity"), path, f"FaceMatches[{i}].Similarity")
            rows.append((rec["probe"], ext.replace(":", "/"), repr(sim), str(i + 1)))
            lines.append(line)
    candidates = pd.DataFrame(rows, columns=["probe", "candidate", "score", "rank"], index=pd.Index(lines, name="line"))
    return candidates, pd.DataFrame(errors, columns=["probe", "response", "code"])


def compare_faces_scores(index_csv: Path) -> pd.DataFrame:
    """1:1 scores from saved ``CompareFaces`` responses.

    Returns ``image_a, image_b, score, n_matched, n_unmatched, status, response``: ``score`` is
    the highest ``FaceMatches[].Similarity`` (the target face most like the source face), NaN
    when no face matched; ``status`` is ``match``, ``below_threshold`` (target faces found, none
    above the request's SimilarityThreshold: request 0 to get every similarity), ``no_face``
    (no face in the target) or ``error``. :func:`write_scores_csv` turns it into an imported-scores
    CSV for ``model.name: scores``.
    """
    index_csv = Path(index_csv)
    table = _index(index_csv, ("response", "image_a", "image_b"))
    out = []
    for line, rec in table.iterrows():
        path = (index_csv.parent / rec["response"]).resolve()
        data = _load(path, f"{index_csv}:{line}")
        row = {"image_a": rec["image_a"], "image_b": rec["image_b"], "score": np.nan, "n_matched": 0,
               "n_unmatched": 0, "status": "error", "response": str(path)}
        if _error(data) is None:
            matches = _matches(data, path, "CompareFaces")
            unmatched = data.get("UnmatchedFaces", [])
            if not isinstance(unmatched, list):
                raise DatasetError(f"{path}: UnmatchedFaces is not a list")
            sims = [_similarity(m.get("Similarity") if isinstance(m, dict) else None, path, f"FaceMatches[{i}].Similarity")
                    for i, m in enumerate(matches)]
            row.update(n_matched=len(sims), n_unmatched=len(unmatched))
            if sims:
                row.update(score=max(sims), status="match")
            else:
                row["status"] = "below_threshold" if unmatched else "no_face"
        out.append(row)
    return pd.DataFrame(out)


def write_scores_csv(scores: pd.DataFrame, path: Path) -> None:
    """An imported-scores CSV (``image_a, image_b, score``; similarity) from :func:`compare_faces_scores`.

    Comparisons without a similarity get an empty score, which frbench counts as failed pairs.
    """
    from frbench.io.spreadsheet import write_csv

    frame = scores[["image_a", "image_b"]].copy()
    frame["score"] = [("" if np.isnan(s) else repr(float(s))) for s in scores["score"]]
    write_csv(Path(path), frame)
