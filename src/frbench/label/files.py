"""Skin-tone label files of annotators (people or AI models): one CSV per annotator, its strict reader and its atomic writer.

Format
------
UTF-8 CSV, header line first, exactly these columns in this order::

    subject_id,image_id,annotator,skin_tone_binary,monk,labelled_at,tool

* ``subject_id``: the dataset's subject (identity) id.
* ``image_id``: the image(s) the annotator was shown, as image ids joined by ``;``; the first is
  the main one. A reader that wants one image takes the part before the first ``;``.
* ``annotator``: a name of letters, digits, ``.``, ``_``, ``-``; the same on every row, since a
  file holds one annotator's answers (a row naming another is foreign and refused).
* ``skin_tone_binary``: ``lighter``, ``darker`` or ``unsure`` (perceived; Gender Shades' split).
* ``monk``: Monk Skin Tone 1-10 (Monk 2019), or empty when the annotator gave none.
* ``labelled_at``: when the answer was given, ISO-8601 in UTC (``Z`` or ``+00:00``), e.g.
  ``2026-12-01T10:00:00.123Z``.
* ``tool``: what wrote the row, e.g. ``frbench-label 0.1.0``.

A file is a log: a later row for a subject (further down the file) supersedes earlier ones,
so correcting an answer appends a row. Undo in the labelling page removes the file's last row
(the whole file is rewritten atomically, as on every answer), so an undone answer leaves no trace
and a crash leaves either the old file or the new one, never half a row.

A consensus file (``frbench label agreement -o``) has the same columns, annotator ``consensus``,
plus ``n_annotators`` (how many annotators answered for the subject) and ``n_agree`` (how many
of them gave the consensus binary answer); the same reader reads it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from frbench import __version__
from frbench.errors import DatasetError, problems_error
from frbench.io.atomic import atomic_write_bytes
from frbench.io.csv_rows import read_csv_rows
from frbench.label.skin_tone_scale import monk_tone

LABEL_COLUMNS = ("subject_id", "image_id", "annotator", "skin_tone_binary", "monk", "labelled_at", "tool")
CONSENSUS_EXTRA = ("n_annotators", "n_agree")
CONSENSUS_COLUMNS = (*LABEL_COLUMNS, *CONSENSUS_EXTRA)
BINARY_ANSWERS = ("lighter", "darker", "unsure")
CONSENSUS_ANNOTATOR = "consensus"
TOOL = f"frbench-label {__version__}"
IMAGE_SEP = ";"
_ANNOTATOR_NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_annotator_name(name: str) -> str:
    """Return ``name`` if it is a valid annotator name (letters, digits, ``.``, ``_``, ``-``), else raise."""
    if not isinstance(name, str) or not _ANNOTATOR_NAME.fullmatch(name):
        raise DatasetError(f"annotator name {name!r} must be letters, digits, '.', '_' or '-' (no spaces)")
    return name


def utc_timestamp(now: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z`` suffix, e.g. ``2026-12-01T10:00:00.123Z``."""
    now = datetime.now(timezone.utc) if now is None else now.astimezone(timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """Parse an ISO-8601 date-time in UTC, or a bare calendar date (``2026-12-01``, taken as 00:00 UTC:
    hand-made label files often record only the day); ValueError for a time without a zero UTC offset."""
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    # Python 3.10's fromisoformat does not take the 'Z' suffix.
    value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if "T" not in text.upper() or value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(text)
    return value


def read_label_file(path: Path, subjects: Iterable[str] | None = None) -> pd.DataFrame:
    """All rows of one annotator's label file (or a consensus file), validated.

    Parameters
    ----------
    path : the CSV (format in the module docstring).
    subjects : the dataset's subject ids; when given, a row naming another subject is refused.

    Returns
    -------
    One row per line, in file order: the label columns as strings (``monk`` normalised to
    ``1``-``10`` or empty), ``line`` (the line the row is on) and, for a consensus file,
    ``n_annotators`` and ``n_agree`` as integers.

    Raises
    ------
    DatasetError naming the file and line of every bad line (at most ``SHOWN_PROBLEMS``): a missing file, a header other than the format's,
    a row with too few or too many fields, an empty subject, image or tool, an unknown binary
    answer, a Monk value outside 1-10, a time that is not ISO-8601 UTC, a row of another
    annotator than the first row's, or (with ``subjects``) a subject not in the dataset.
    """
    path = Path(path)

    def check_header(header: list[str]) -> None:
        if not header:
            raise DatasetError(f"{path}:1: the file is empty, expected the header {','.join(LABEL_COLUMNS)}")
        if tuple(header) not in (LABEL_COLUMNS, CONSENSUS_COLUMNS):
            raise DatasetError(
                f"{path}:1: header {','.join(header)!r} is not a label file's "
                f"({','.join(LABEL_COLUMNS)}[,{','.join(CONSENSUS_EXTRA)}])"
            )

    # written without spreadsheet escaping (format_label_file), so read back without unescaping
    table = read_csv_rows(path, "label file", empty_ok=True, unescape=False, check_header=check_header)
    header = [str(c) for c in table.columns]
    consensus = tuple(header) == CONSENSUS_COLUMNS
    known = None if subjects is None else set(subjects)
    rows: list[list[object]] = []
    annotator: str | None = None
    problems: list[str] = []
    for line, cells in zip(table.index, table.itertuples(index=False, name=None)):
        try:
            row = dict(zip(header, cells))
            where = f"{path}:{line}"
            for col in ("subject_id", "image_id", "annotator", "tool"):
                if not row[col]:
                    raise DatasetError(f"{where}: empty {col}")
            if annotator is None:
                if not _valid_name(row["annotator"]):
                    raise DatasetError(f"{where}: annotator {row['annotator']!r} must be letters, digits, '.', '_' or '-'")
                annotator = row["annotator"]
            elif row["annotator"] != annotator:
                raise DatasetError(
                    f"{where}: annotator {row['annotator']!r} in a file of {annotator!r}; keep one file per annotator"
                )
            if row["skin_tone_binary"] not in BINARY_ANSWERS:
                raise DatasetError(
                    f"{where}: skin_tone_binary {row['skin_tone_binary']!r} is not one of {', '.join(BINARY_ANSWERS)}"
                )
            if row["monk"]:
                try:
                    row["monk"] = monk_tone(row["monk"])
                except KeyError:
                    raise DatasetError(f"{where}: monk {row['monk']!r} is not a Monk Skin Tone 1-10 (or empty)") from None
            try:
                parse_utc(row["labelled_at"])
            except ValueError:
                raise DatasetError(
                    f"{where}: labelled_at {row['labelled_at']!r} is not an ISO-8601 UTC time or date (e.g. 2026-12-01T10:00:00Z)"
                ) from None
            if known is not None and row["subject_id"] not in known:
                raise DatasetError(f"{where}: subject {row['subject_id']!r} is not in the dataset")
            values: list[object] = [row[c] for c in LABEL_COLUMNS]
            if consensus:
                values += [_count(row, col, where) for col in CONSENSUS_EXTRA]
                if values[-1] > values[-2]:
                    raise DatasetError(f"{where}: n_agree {values[-1]} exceeds n_annotators {values[-2]}")
            elif annotator == CONSENSUS_ANNOTATOR:
                raise DatasetError(f"{where}: annotator 'consensus' is reserved for consensus files")
            rows.append([*values, line])
        except DatasetError as exc:  # every bad line is listed, not only the first
            problems.append(str(exc))
    if problems:
        raise problems_error(problems, DatasetError, source=str(path))
    columns = [*(CONSENSUS_COLUMNS if consensus else LABEL_COLUMNS), "line"]
    out = pd.DataFrame(rows, columns=columns)
    for col in ("n_annotators", "n_agree", "line"):
        if col in out:
            out[col] = out[col].astype(int)
    return out


def latest_answers(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (annotator, subject): the last in file order, which supersedes the earlier ones."""
    return rows.drop_duplicates(["annotator", "subject_id"], keep="last").reset_index(drop=True)


def read_annotator_files(paths: Sequence[Path], subjects: Iterable[str] | None = None) -> pd.DataFrame:
    """Current answers of several annotators: :func:`latest_answers` of each file, concatenated.

    Refuses a consensus file and two files of one annotator (whose answers would silently
    count twice), naming the files.
    """
    if not paths:
        raise DatasetError("no label files given")
    subjects = None if subjects is None else set(subjects)
    frames, owner = [], {}
    for path in paths:
        rows = read_label_file(Path(path), subjects)
        if "n_agree" in rows.columns:
            raise DatasetError(f"{path}: a consensus file, not one annotator's answers")
        if rows.empty:
            continue
        name = rows["annotator"].iloc[0]
        if name in owner:
            raise DatasetError(f"{path}: annotator {name!r} also has {owner[name]}; give one file per annotator")
        owner[name] = path
        frames.append(latest_answers(rows).assign(file=str(path)))
    if not frames:
        raise DatasetError(f"no answers in {', '.join(map(str, paths))}")
    return pd.concat(frames, ignore_index=True)


def label_row(subject_id: str, image_ids: Sequence[str], annotator: str, binary: str, monk: str | int | None,
              labelled_at: str | None = None, tool: str = TOOL) -> dict[str, str]:
    """One answer as a row of the format, validated the way the reader validates it."""
    if binary not in BINARY_ANSWERS:
        raise DatasetError(f"answer {binary!r} is not one of {', '.join(BINARY_ANSWERS)}")
    monk_text = "" if monk in (None, "") else str(monk)
    if monk_text:
        try:
            monk_text = monk_tone(monk_text)
        except KeyError:
            raise DatasetError(f"Monk value {monk!r} is not 1-10") from None
    if not image_ids or any(IMAGE_SEP in i for i in image_ids):
        raise DatasetError(f"image ids {list(image_ids)!r} must be non-empty and free of {IMAGE_SEP!r}")
    return {
        "subject_id": subject_id,
        "image_id": IMAGE_SEP.join(image_ids),
        "annotator": check_annotator_name(annotator),
        "skin_tone_binary": binary,
        "monk": monk_text,
        "labelled_at": labelled_at or utc_timestamp(),
        "tool": tool,
    }


def format_label_file(rows: Iterable[dict[str, object]], columns: Sequence[str] = LABEL_COLUMNS) -> bytes:
    """The CSV bytes of ``rows`` (header first, ``\\n`` line ends, quoting only where needed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] for c in columns])
    return buffer.getvalue().encode("utf-8")


def write_label_file(path: Path, rows: Iterable[dict[str, object]], columns: Sequence[str] = LABEL_COLUMNS) -> None:
    """Replace ``path`` with ``rows`` atomically (temp file, fsync, rename)."""
    atomic_write_bytes(Path(path), format_label_file(rows, columns))


def _valid_name(name: str) -> bool:
    return bool(_ANNOTATOR_NAME.fullmatch(name))


def _count(row: dict[str, str], col: str, where: str) -> int:
    text = row[col]
    if not text.isdigit() or (col == "n_annotators" and int(text) < 1):
        raise DatasetError(f"{where}: {col} {text!r} is not a whole number{' >= 1' if col == 'n_annotators' else ''}")
    return int(text)
