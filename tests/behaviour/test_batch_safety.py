"""Batch use (a shell loop, a job array, CI): no wrong result with exit status 0.

Each test drives a library call or the real command line on a tiny dataset with imported scores
(no model), so that it is quick; the tests that need a model say so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from frbench.config import load_config, validate_config
from frbench.errors import ConfigError, DatasetError
from frbench.io.atomic import atomic_write_bytes
from frbench.report.output_dir import LOCK_FILE, output_lock
from frbench.workflows.manifest import run_dir_problems
from tests.builders import csv_config, make_scored_dataset, needs_dlib, scored_config


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_the_umask_mode_not_0600(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "table.csv", b"a,b\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o666 & ~umask


# --- one writer per output folder -------------------------------------------------------------

# `frbench run` whose run, once it holds its folder's lock, waits at the scoring step until the
# file GATE exists: the test decides when the run may finish, however loaded the machine is.
GATED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import frbench.studies.verification as protocols

    gate = Path(sys.argv[1])
    real = protocols.import_scores

    def gated(*args, **kwargs):
        Path(str(gate) + ".waiting").touch()
        while not gate.exists():
            time.sleep(0.05)
        return real(*args, **kwargs)

    protocols.import_scores = gated
    from frbench.cli.app import main
    main(sys.argv[2:], prog_name="frbench")
    """
)


def scored_run(tmp_path: Path, **extra: object) -> Path:
    """A config file of the imported-scores dataset (made once per test folder)."""
    data = tmp_path / "data"
    if not data.is_dir():
        data.mkdir()
        make_scored_dataset(data)
    path = tmp_path / f"scored-{len(list(tmp_path.glob('scored-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(scored_config(data, **extra)))
    return path


def cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "frbench.cli", *args], capture_output=True, text=True, timeout=600,
                          **kwargs)


def test_a_second_run_into_a_locked_folder_refuses_at_once_naming_the_first(tmp_path: Path) -> None:
    cfg = scored_run(tmp_path)
    out = tmp_path / "same"
    with output_lock(out, command="frbench run other.yaml -o same"):
        done = cli("run", str(cfg), "-o", str(out), "-q")
    assert done.returncode == 2, done.stderr
    # one line (a first matplotlib import may add its own notice about its font cache)
    errors = [line for line in done.stderr.splitlines() if line.startswith("frbench:")]
    assert len(errors) == 1, done.stderr
    assert f"being written by another run (PID {os.getpid()}: frbench run other.yaml -o same" in errors[0]
    # nothing of the refused run was written, and the lock went with its holder
    assert not (out / "manifest.json").exists() and not (out / LOCK_FILE).exists()


def test_two_runs_into_one_folder_at_once_one_refuses_the_other_is_consistent(
    tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    script = tmp_path / "gated.py"
    script.write_text(GATED_RUN)
    gate = tmp_path / "gate"
    out = tmp_path / "same"
    settings = {"low": 0.4, "high": 0.6}
    for name, fixed in settings.items():
        cfg = scored_run(tmp_path, name=name, thresholds={"deepface_default": False, "target_fmr": [0.1], "fixed": [fixed]})
        processes.append(subprocess.Popen(
            [sys.executable, str(script), str(gate), "run", str(cfg), "-o", str(out), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    # the one holding the lock waits at the gate; the other must have been refused, not queued
    refused = None
    deadline = time.monotonic() + 300
    while refused is None and time.monotonic() < deadline:
        refused = next((p for p in processes if p.poll() is not None), None)
        time.sleep(0.05)
    assert refused is not None, "neither run was refused"
    holder = next(p for p in processes if p is not refused)
    _, err = refused.communicate()
    assert refused.returncode == 2, err
    assert f"is being written by another run (PID {holder.pid}: " in err
    gate.touch()
    _, err = holder.communicate(timeout=300)
    assert holder.returncode == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert run_dir_problems(out, manifest) == []
    winner = manifest["config"]["name"]
    thresholds = pd.read_csv(out / "thresholds.csv")
    assert f"fixed={settings[winner]}" in set(thresholds["threshold_name"]), (winner, thresholds)
    assert f"fixed={settings[winner]}" in (out / "report.md").read_text()
    assert f"fixed={settings[winner]}" in set(pd.read_csv(out / "per_group.csv")["threshold_name"])


def test_compare_and_from_refuse_a_folder_mixing_two_runs(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for out, fixed in ((first, 0.4), (second, 0.6)):
        cfg = scored_run(tmp_path, thresholds={"deepface_default": False, "target_fmr": [0.1], "fixed": [fixed]})
        assert cli("run", str(cfg), "-o", str(out), "-q").returncode == 0
    shutil.copy(second / "scores.csv", first / "scores.csv")  # a mix made by hand
    done = cli("compare", str(first), str(second))
    assert done.returncode == 2, done.stderr
    assert "scores.csv: not the file run " in done.stderr and "sha256 differs" in done.stderr
    done = cli("run", "--from", str(first / "manifest.json"), "-o", str(tmp_path / "again"), "-q")
    assert done.returncode == 2, done.stderr
    assert "scores.csv: not the file run " in done.stderr


# --- run --from is strict ----------------------------------------------------------------------

def test_run_from_that_does_not_reproduce_exits_4_unless_differences_are_allowed(tmp_path: Path) -> None:
    cfg = scored_run(tmp_path)
    recorded = tmp_path / "recorded"
    assert cli("run", str(cfg), "-o", str(recorded), "-q").returncode == 0
    same = cli("run", "--from", str(recorded / "manifest.json"), "-o", str(tmp_path / "same"), "-q")
    assert same.returncode == 0, same.stderr
    # the scores the record was made from changed since: every table differs
    scores = tmp_path / "data" / "scores.csv"
    table = pd.read_csv(scores)
    table["score"] = table["score"] * 0.5
    table.to_csv(scores, index=False)
    strict = cli("run", "--from", str(recorded / "manifest.json"), "-o", str(tmp_path / "strict"), "-q")
    assert strict.returncode == 4, strict.stderr
    listed = [line for line in strict.stderr.splitlines() if line.startswith("frbench: warning: reproduction: outputs.")]
    assert "frbench: warning: reproduction: outputs.scores.csv: recorded sha256 " in "\n".join(listed)
    assert strict.stderr.splitlines()[-1] == (
        f"frbench: error: reproduction: {len(listed)} difference(s) from the record (listed above; "
        "--allow-differences accepts them)"
    )
    allowed = cli("run", "--from", str(recorded / "manifest.json"), "-o", str(tmp_path / "allowed"), "-q",
                  "--allow-differences")
    assert allowed.returncode == 0, allowed.stderr
    assert [line for line in allowed.stderr.splitlines() if "outputs." in line] == listed


# --- names are names ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../escape", "/tmp/escape", "a/../../b", "..", "a\\\\..\\\\b"])
def test_a_name_that_would_leave_runs_is_refused_before_any_work(tmp_path: Path, name: str) -> None:
    cfg = scored_run(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    done = cli("run", str(cfg), "--set", f"name={name}", "-q", cwd=work)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("frbench:")]
    assert len(errors) == 1 and errors[0].startswith(f"frbench: error: {cfg} (--set {'name=' + name!r}): 'name': ")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data", cfg.name, "work"])
    assert list(work.iterdir()) == []


def test_a_name_with_odd_characters_becomes_a_plain_folder_name(tmp_path: Path) -> None:
    config = validate_config(scored_config(tmp_path, name="my run: v2?"))
    assert config.name == "my_run__v2_"
    assert validate_config(scored_config(tmp_path, name="grid/cell")).name == "grid/cell"


# --- config validation before any work ---------------------------------------------------------

@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("thresholds.fixed=[.nan]", "'thresholds.fixed': fixed thresholds must be finite numbers, got [nan]"),
        ("thresholds.fixed=[.inf]", "'thresholds.fixed': fixed thresholds must be finite numbers, got [inf]"),
        ("thresholds.target_fmr=[.nan]", "'thresholds.target_fmr': target FMR values must lie strictly between 0 and 1"),
        ("thresholds.target_fmr=[1.5]", "'thresholds.target_fmr': target FMR values must lie strictly between 0 and 1"),
        ("identification.target_fpir=[0]", "'identification.target_fpir': target FPIR values must lie strictly"),
    ],
)
def test_thresholds_that_cannot_be_used_are_refused_at_load(tmp_path: Path, override: str, message: str) -> None:
    cfg = scored_run(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(cfg, [override])
    done = cli("run", str(cfg), "--set", override, "-o", str(tmp_path / "out"), "-q")
    assert done.returncode == 2 and "Traceback" not in done.stderr and message in done.stderr
    assert not (tmp_path / "out").exists()


def test_folds_a_protocol_would_ignore_are_refused_at_load(tmp_path: Path) -> None:
    raw = {"name": "lfw", "dataset": {"name": "lfw", "folds": [1]}, "pairs": {"protocol": "generated"}}
    with pytest.raises(ConfigError, match=r"dataset.folds \[1\] selects pairs of the dataset's pair list, which "
                                          r"pairs.protocol 'generated' does not use"):
        validate_config(raw)
    for protocol in ("exhaustive", "identification"):
        with pytest.raises(ConfigError, match=f"pairs.protocol '{protocol}' does not use"):
            validate_config({**raw, "pairs": {"protocol": protocol}})
    with pytest.raises(ConfigError, match="format 'csv' has no folds to select"):
        validate_config(scored_config(tmp_path, dataset={**scored_config(tmp_path)["dataset"], "folds": [1]}))
    assert validate_config({**raw, "pairs": {"protocol": "file"}}).dataset.folds == [1]


# --- nothing lost when nothing scores ----------------------------------------------------------

@needs_dlib
@pytest.mark.parametrize(
    "thresholds",
    [
        {"deepface_default": False, "target_fmr": [0.1], "fixed": []},
        {"deepface_default": False, "target_fmr": [], "fixed": [0.5]},
        {"deepface_default": True, "target_fmr": [], "fixed": []},
    ],
    ids=["target", "fixed", "deepface"],
)
def test_when_every_image_fails_to_enrol_the_failures_are_written_and_named(tmp_path: Path, thresholds: dict) -> None:
    root = tmp_path / "data"
    make_scored_dataset(root, n_subjects=3, per_subject=2)  # placeholder files: none decodes
    cfg = tmp_path / "unreadable.yaml"
    raw = csv_config(root, tmp_path / "cache", thresholds=thresholds)
    cfg.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    done = cli("run", str(cfg), "-o", str(out), "-q")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("frbench:")] == [
        f"frbench: error: no pair could be scored: 6 of 6 images failed to enrol (unreadable: 6); failures.csv, "
        f"failure_to_enrol.csv and report.md are in {out}"
    ]
    failures = pd.read_csv(out / "failures.csv")
    assert len(failures) == 6 and set(failures["status"]) == {"unreadable"}
    assert (out / "failure_to_enrol.csv").is_file()
    report = (out / "report.md").read_text()
    assert "6 of 6 images failed to enrol (unreadable: 6)" in report and "| unreadable | 6 |" in report
    assert not (out / "manifest.json").exists()


# --- every problem of a pairs or label file is listed ------------------------------------------

def test_every_bad_line_of_a_pairs_csv_is_listed_by_run_and_data_check(tmp_path: Path) -> None:
    cfg = scored_run(tmp_path)
    pairs = tmp_path / "data" / "pairs.csv"
    lines = pairs.read_text().splitlines()
    lines[2] = "s0/img0.png,nowhere.png,False"       # line 3: unknown image
    lines[5] = "s0/img1.png,s0/img1.png,True"        # line 6: an image with itself
    lines[9] = lines[9].rsplit(",", 1)[0] + ",maybe"  # line 10: mated unreadable
    pairs.write_text("\n".join(lines) + "\n")
    expected = [
        f"frbench: error: {pairs}:3: image_b 'nowhere.png' is not in the images CSV",
        f"frbench: error: {pairs}:6: pairs image 's0/img1.png' with itself",
        f"frbench: error: {pairs}:10: mated 'maybe' is not true/false, 1/0 or yes/no",
    ]
    run = cli("run", str(cfg), "-o", str(tmp_path / "out"), "-q")
    assert run.returncode == 2, run.stderr
    assert [line for line in run.stderr.splitlines() if line.startswith("frbench:")] == expected, run.stderr
    check = cli("data", "check", str(cfg))
    assert check.returncode == 2, check.stderr
    assert [line for line in check.stdout.splitlines() if str(pairs) in line] == [
        line.replace("frbench: error: ", "loading it fails: ") for line in expected
    ]


def test_many_bad_lines_are_capped_with_a_count(tmp_path: Path) -> None:
    from frbench.datasets.csv_manifest import load_csv_manifest

    root = make_scored_dataset(tmp_path / "data")
    pairs = root / "pairs.csv"
    pairs.write_text("image_a,image_b\n" + "".join(f"x{i}.png,s0/img0.png\n" for i in range(25)))
    with pytest.raises(DatasetError) as caught:
        load_csv_manifest(root / "images.csv", pairs, columns={"path": "file", "subject_id": "person"}, root=root)
    lines = str(caught.value).splitlines()
    assert len(lines) == 21 and lines[0] == f"{pairs}:2: image_a 'x0.png' is not in the images CSV"
    assert lines[-1] == f"{pairs}: and 5 more problem(s)"


def test_every_bad_line_of_a_label_file_is_listed(tmp_path: Path) -> None:
    from frbench.label.files import LABEL_COLUMNS, read_label_file

    good = {"subject_id": "s1", "image_id": "s1/a.jpg", "annotator": "alice", "skin_tone_binary": "darker",
            "monk": "7", "labelled_at": "2026-12-01T10:00:00Z", "tool": "frbench"}
    rows = [good, {**good, "skin_tone_binary": "pale"}, good, {**good, "monk": "12"}, {**good, "labelled_at": "yesterday"}]
    path = tmp_path / "alice.csv"
    pd.DataFrame(rows, columns=list(LABEL_COLUMNS)).fillna("").to_csv(path, index=False)
    with pytest.raises(DatasetError) as caught:
        read_label_file(path)
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:3", f"{path}:5", f"{path}:6"]


# --- data check decodes every image ------------------------------------------------------------

def test_data_check_finds_a_truncated_jpeg_and_an_undecodable_png(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    root = tmp_path / "mine"
    (root / "a").mkdir(parents=True)
    picture = np.random.default_rng(0).integers(0, 255, size=(64, 64, 3)).astype(np.uint8)
    for name in ("1.jpg", "2.jpg", "3.png"):
        cv2.imwrite(str(root / "a" / name), picture)
    (root / "a" / "2.jpg").write_bytes((root / "a" / "2.jpg").read_bytes()[:-300])  # truncated, as a cut download
    (root / "a" / "3.png").write_bytes((root / "a" / "3.png").read_bytes()[:40])  # PNG magic, no pixels
    done = cli("data", "check", "mine", "--format", "folder", "--data-root", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{root / 'a' / '2.jpg'}: unreadable (truncated JPEG" in done.stdout
    assert f"{root / 'a' / '3.png'}: unreadable" in done.stdout
    assert str(root / "a" / "1.jpg") not in done.stdout
