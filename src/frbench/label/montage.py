"""The montage workflow: many subjects on one numbered sheet, answers recorded by tile number.

The labelling page (:mod:`frbench.label.server`) shows one subject at a time. For thousands of
subjects an annotator is faster with sheets: each sheet shows ``per_sheet`` subjects, each as a
numbered tile of up to four face crops (:mod:`frbench.label.crops`) from different photos of that
subject, on a neutral grey, under a strip of the ten Monk Skin Tone swatches. Names are not shown.

A sheet is ``sheet_NNN.png`` with its key ``sheet_NNN.csv`` (``tile,subject_id,image_id``, the
image ids shown joined by ``;``), and ``sheets.json`` records the seed, the subjects' order and
each PNG's SHA-256, so what an annotator saw can be checked afterwards.

The annotator answers one line per tile, ``TILE ANSWER [MONK]``: ``ANSWER`` is ``L``/``D``/``U``
(lighter, darker, unsure; Gender Shades' binary: Fitzpatrick I-III lighter, IV-VI darker) and
``MONK`` 1-10 or ``-``. :func:`record_answers` turns a sheet's answers into rows of the
annotator's label file (:mod:`frbench.label.files`), refusing a sheet answered partly or twice
over a tile, and :func:`describe_annotator` keeps who the annotator is in
``annotator-NAME.json`` beside the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from frbench import __version__
from frbench.errors import DatasetError
from frbench.label.crops import face_crop_jpeg
from frbench.label.files import (
    IMAGE_SEP,
    LABEL_COLUMNS,
    check_annotator_name,
    label_row,
    read_label_file,
    utc_timestamp,
    write_label_file,
)
from frbench.io.atomic import atomic_write_bytes
from frbench.io.csv_rows import read_csv_rows

TOOL = f"frbench-label-montage {__version__}"
KEY_COLUMNS = ("tile", "subject_id", "image_id")
COLS, ROWS = 6, 5
CROP = 96  # one crop's side; a tile is 2 x 2 crops
CAPTION = 22
GAP = 6
GREY = (128, 128, 128)
# Monk Skin Tone swatches (Monk 2019; the sRGB values Google publishes with the scale).
MONK_SWATCHES = ("f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96", "a07e56", "825c43", "604134", "3a312a", "292420")
ANSWER_CODES = {"L": "lighter", "D": "darker", "U": "unsure"}
_ANSWER_LINE = re.compile(r"^\s*(\d+)\s*[:,]?\s*([LDUldu])\s*[,]?\s*(10|[1-9]|-)?\s*$")


def choose_photos(image_ids: Sequence[str], photos: int, rng: np.random.Generator) -> list[str]:
    """Up to ``photos`` of a subject's images, a seeded random choice kept in name order."""
    ids = sorted(image_ids)
    if len(ids) <= photos:
        return ids
    return sorted(rng.choice(ids, size=photos, replace=False).tolist())


def plan_sheets(images: pd.DataFrame, subjects: Sequence[str], seed: int, per_sheet: int = COLS * ROWS,
                photos: int = 4) -> list[pd.DataFrame]:
    """The sheets' keys: ``subjects`` shuffled by ``seed``, cut into sheets of ``per_sheet`` tiles.

    ``images`` has ``image_id`` and ``subject_id``; each subject shows up to ``photos`` of its images.
    """
    if per_sheet < 1 or photos < 1:
        raise DatasetError("a sheet needs at least one tile and one photo per tile")
    by_subject = images.groupby(images["subject_id"].astype(str))["image_id"].agg(list)
    missing = sorted(set(subjects) - set(by_subject.index))
    if missing:
        raise DatasetError(f"{len(missing)} subjects have no images in the dataset, e.g. {missing[0]!r}")
    rng = np.random.default_rng(seed)
    order = [sorted(subjects)[i] for i in rng.permutation(len(subjects))]
    sheets = []
    for start in range(0, len(order), per_sheet):
        chunk = order[start : start + per_sheet]
        shown = [IMAGE_SEP.join(choose_photos(by_subject[s], photos, rng)) for s in chunk]
        sheets.append(pd.DataFrame({"tile": range(1, len(chunk) + 1), "subject_id": chunk, "image_id": shown}))
    return sheets


def render_sheet(key: pd.DataFrame, paths: Mapping[str, str], cols: int = COLS) -> np.ndarray:
    """The sheet's BGR pixels: the Monk strip on top, then one numbered tile per row of ``key``
    (``paths``: image id -> file)."""
    tile = 2 * CROP
    rows = -(-len(key) // cols)
    strip = 46
    width = cols * (tile + GAP) + GAP
    height = strip + rows * (tile + CAPTION + GAP) + GAP
    sheet = np.full((height, width, 3), GREY, dtype=np.uint8)
    _draw_monk_strip(sheet, strip)
    for i, (number, images) in enumerate(zip(key["tile"], key["image_id"])):
        x = GAP + (i % cols) * (tile + GAP)
        y = strip + GAP + (i // cols) * (tile + CAPTION + GAP)
        ids = str(images).split(IMAGE_SEP)
        side = tile if len(ids) == 1 else CROP
        for j, image_id in enumerate(ids):
            crop = cv2.imdecode(np.frombuffer(face_crop_jpeg(paths[image_id], size=side), np.uint8), cv2.IMREAD_COLOR)
            cx, cy = x + (j % 2) * CROP, y + (j // 2) * CROP
            sheet[cy : cy + side, cx : cx + side] = crop
        cv2.rectangle(sheet, (x, y + tile), (x + tile - 1, y + tile + CAPTION - 1), (40, 40, 40), -1)
        cv2.putText(sheet, str(number), (x + tile // 2 - 12, y + tile + CAPTION - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return sheet


def _draw_monk_strip(sheet: np.ndarray, height: int) -> None:
    width = sheet.shape[1] - 2 * GAP
    step = width / len(MONK_SWATCHES)
    for i, hexcode in enumerate(MONK_SWATCHES):
        r, g, b = (int(hexcode[k : k + 2], 16) for k in (0, 2, 4))
        x0, x1 = GAP + round(i * step), GAP + round((i + 1) * step) - 2
        cv2.rectangle(sheet, (x0, GAP), (x1, height - 16), (b, g, r), -1)
        cv2.putText(sheet, f"Monk {i + 1}", (x0 + 4, height - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)


def write_sheets(images: pd.DataFrame, subjects: Sequence[str], out_dir: Path, seed: int,
                 per_sheet: int = COLS * ROWS, photos: int = 4) -> list[Path]:
    """Write every sheet's PNG and key and ``sheets.json`` into ``out_dir``; return the PNG paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = plan_sheets(images, subjects, seed, per_sheet, photos)
    paths = dict(zip(images["image_id"].astype(str), images["path"].astype(str)))
    written, digests = [], {}
    for n, key in enumerate(keys, 1):
        png = out_dir / f"sheet_{n:03d}.png"
        ok, data = cv2.imencode(".png", render_sheet(key, paths))
        if not ok:
            raise DatasetError(f"{png}: could not encode the sheet")
        atomic_write_bytes(png, data.tobytes())
        atomic_write_bytes(png.with_suffix(".csv"), key.to_csv(index=False).encode("utf-8"))
        digests[png.name] = hashlib.sha256(data.tobytes()).hexdigest()
        written.append(png)
    manifest = {"tool": TOOL, "seed": seed, "per_sheet": per_sheet, "photos": photos, "subjects": len(subjects),
                "sheets": digests, "made_at": utc_timestamp()}
    atomic_write_bytes(out_dir / "sheets.json", (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    return written


def read_sheet_key(path: Path) -> pd.DataFrame:
    """A sheet's key (``tile,subject_id,image_id``), validated."""

    def check_header(header: list[str]) -> None:
        if tuple(header) != KEY_COLUMNS:
            raise DatasetError(f"{path}: header {','.join(header)!r} is not a sheet key's ({','.join(KEY_COLUMNS)})")

    # written by make_sheets with pandas' to_csv, unescaped
    key = read_csv_rows(Path(path), "sheet key", empty_ok=True, unescape=False, check_header=check_header)
    key = key.reset_index(drop=True)
    key["tile"] = key["tile"].astype(int)
    return key


def parse_answers(text: str, tiles: Sequence[int], where: str) -> dict[int, tuple[str, str]]:
    """``{tile: (binary, monk)}`` from lines ``TILE L|D|U [MONK|-]``; every tile exactly once.

    Every problem is listed (at most 20), each with its line, in one DatasetError.
    """
    answers: dict[int, tuple[str, str]] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ANSWER_LINE.match(line)
        if match is None:
            problems.append(f"{where}:{number}: {line.strip()!r} is not 'TILE L|D|U [MONK 1-10 or -]'")
            continue
        tile, code, monk = int(match[1]), match[2].upper(), match[3] or ""
        if tile not in tiles:
            problems.append(f"{where}:{number}: tile {tile} is not on the sheet (1-{max(tiles)})")
        elif tile in answers:
            problems.append(f"{where}:{number}: tile {tile} is answered twice")
        else:
            answers[tile] = (ANSWER_CODES[code], "" if monk == "-" else monk)
    missing = [t for t in tiles if t not in answers]
    if missing and not problems:
        problems.append(f"{where}: no answer for tile{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}")
    if problems:
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DatasetError("\n".join(problems[:20]) + more)
    return answers


def record_answers(key_path: Path, answers_text: str, annotator: str, label_file: Path, where: str = "answers") -> int:
    """Append one sheet's answers to ``label_file`` (created if absent); return how many were added.

    The rows' ``image_id`` are the photos the tile showed, ``tool`` names this workflow and the
    sheet (``frbench-label-montage VERSION FOLDER/sheet_NNN``), and ``labelled_at`` is now. A sheet already
    recorded in the file is refused, so a repeated command cannot count an answer twice.
    """
    check_annotator_name(annotator)
    key = read_sheet_key(key_path)
    answers = parse_answers(answers_text, key["tile"].tolist(), where)
    # the sheet's folder too: two drawings of a block both have a sheet_001
    tool = f"{TOOL} {key_path.resolve().parent.name}/{key_path.stem}"
    existing: list[dict[str, object]] = []
    if label_file.exists():
        rows = read_label_file(label_file)
        if not rows.empty and rows["annotator"].iloc[0] != annotator:
            raise DatasetError(f"{label_file}: a file of annotator {rows['annotator'].iloc[0]!r}, not {annotator!r}")
        if (rows["tool"] == tool).any() and set(rows.loc[rows["tool"] == tool, "subject_id"]) & set(key["subject_id"]):
            raise DatasetError(f"{label_file}: {key_path.stem} is already recorded for {annotator}")
        existing = rows[list(LABEL_COLUMNS)].to_dict("records")
    now = utc_timestamp()
    new = [
        label_row(subject, str(images).split(IMAGE_SEP), annotator, *answers[tile], labelled_at=now, tool=tool)
        for tile, subject, images in zip(key["tile"], key["subject_id"], key["image_id"])
    ]
    label_file.parent.mkdir(parents=True, exist_ok=True)
    write_label_file(label_file, [*existing, *new])
    return len(new)


def describe_annotator(label_file: Path, annotator: str, kind: str, saw: str) -> Path:
    """Write (or check) ``annotator-NAME.json`` beside ``label_file``: who the annotator is and what it saw.

    ``kind`` says what the annotator is, in words a report can print ("a person", "an AI model
    (...)"); it is fixed once written, so a file's answers never change author.
    """
    meta = label_file.with_suffix(".json")
    record = {"annotator": annotator, "kind": kind, "saw": saw}
    if meta.exists():
        old = json.loads(meta.read_text(encoding="utf-8"))
        if old.get("annotator") != annotator or old.get("kind") != kind:
            raise DatasetError(f"{meta}: already describes {old.get('annotator')!r} as {old.get('kind')!r}")
        return meta
    if not kind.strip():
        raise DatasetError("say what the annotator is (--kind), e.g. 'a person' or 'an AI model (...)'")
    record["described_at"] = utc_timestamp()
    atomic_write_bytes(meta, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return meta
