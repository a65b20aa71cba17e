"""The corpus of bad inputs (tests/corpus.py) and what each must yield.

Image problems are counted, reported failures with their reason while the rest of the run
completes; config and pairs-file problems are one-line errors naming the file and the line or
field, raised before any embedding starts (the embedding cache is not even created).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from frbench.annotate.ita import ItaOptions, estimate_ita_images
from frbench.cli.app import main
from frbench.config import load_config, validate_config
from frbench.datasets import load_dataset, load_lfw
from frbench.embed.duplicates import copies_caveat, identical_embeddings
from frbench.errors import ConfigError, DatasetError, OutputError
from frbench.embed.screening import MAX_PIXELS, check_image, jpeg_is_complete
from frbench.workflows.run import run_benchmark
from tests.corpus import (
    TRUNCATED,
    UNDECODABLE,
    jpeg,
    png_bit_depth,
    png_bomb,
    truncated_jpeg,
    write_image_corpus,
    write_png,
)
from tests.datasets.test_lfw import make_lfw
from tests.builders import csv_config, lfw_subset, make_csv_dataset

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="needs dlib-bin and face_recognition_models",
)
def noise(seed: int = 0, shape: tuple[int, int] = (120, 100)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, size=(*shape, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# check_image: the header and a JPEG's completeness, before any decoding


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png")


def test_a_30000_square_png_is_too_large_without_being_decoded(bomb: Path) -> None:
    assert bomb.stat().st_size < 200_000  # 0.9 G pixels in ~110 KB
    started = time.perf_counter()
    status, detail = check_image(bomb)
    assert time.perf_counter() - started < 1.0
    assert status == "too_large"
    assert "900000000 pixels" in detail and str(bomb) not in detail


def test_checking_the_bomb_allocates_nothing_of_its_size(bomb: Path) -> None:
    """In a process allowed 1 GiB of address space: decoding needs 2.7 GB, checking a few MB."""
    code = textwrap.dedent(f"""
        import resource, sys
        import cv2
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from frbench.embed.screening import check_image
        print(check_image({str(bomb)!r})[0])
        try:
            decoded = cv2.imread({str(bomb)!r})
        except cv2.error:
            decoded = None
        print("decoded" if decoded is not None else "not decoded")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # the control line shows the limit bites: OpenCV cannot decode the file within it
    assert out.stdout.split() == ["too_large", "not", "decoded"]


def test_max_pixels_is_the_limit_applied(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), noise(shape=(40, 50)))  # 2,000 pixels
    assert check_image(path, max_pixels=2000) is None
    assert check_image(path, max_pixels=1999) == (
        "too_large", "not decoded: 50 x 40 = 2,000 pixels, above the limit of 1,999"
    )
    # between Pillow's warning and error limits the verdict is still ours, and Pillow stays quiet
    mid = write_png(tmp_path / "mid.png", 10000, 10000, (b"\x00" * 1251 for _ in range(10000)), 1, 0)
    assert MAX_PIXELS < 10000 * 10000 <= 2 * Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_image(mid) == (
            "too_large", f"not decoded: 10000 x 10000 = 100,000,000 pixels, above the limit of {MAX_PIXELS:,}"
        )


@pytest.mark.parametrize("max_pixels", [0, -1, 1.5, True])
def test_max_pixels_must_be_a_positive_integer(tmp_path: Path, max_pixels: object) -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        check_image(tmp_path / "x.png", max_pixels)  # type: ignore[arg-type]


def test_verdict_of_every_image_case(tmp_path: Path) -> None:
    source = tmp_path / "source.png"
    cv2.imwrite(str(source), noise())
    cases = write_image_corpus(tmp_path, source, "s0")
    verdicts = {name: check_image(tmp_path / case.rel, max_pixels=1_000_000) for name, case in cases.items()}
    assert verdicts == {
        "zero-byte file": ("unreadable", "empty file (0 bytes)"),
        # Pillow does not know these bytes: decoding decides (and fails, see the run tests)
        "text file named .jpg": None,
        "truncated JPEG": ("unreadable", TRUNCATED),
        # the header is intact; the damage is in the pixel data, which decoding finds
        "corrupt PNG": None,
        "grayscale": None,
        "RGBA": None,
        "16-bit PNG": None,
        "CMYK JPEG": None,
        "EXIF-rotated photo": None,
        "image above max_pixels": (
            "too_large", "not decoded: 1250 x 1000 = 1,250,000 pixels, above the limit of 1,000,000"
        ),
        "non-ASCII and space in the name": None,
        "duplicate file under another name and subject": None,
    }
    assert png_bit_depth(tmp_path / cases["16-bit PNG"].rel) == 16
    with Image.open(tmp_path / cases["CMYK JPEG"].rel) as im:
        assert im.mode == "CMYK"
    with Image.open(tmp_path / cases["EXIF-rotated photo"].rel) as im:
        assert im.getexif()[0x0112] == 6
    assert check_image(tmp_path / "absent.jpg") == ("missing", f"no file at {tmp_path / 'absent.jpg'}")
    # what would block or never end if read: a folder, a named pipe, a link to an endless device
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    for special in (tmp_path, tmp_path / "pipe.jpg", tmp_path / "zero.jpg"):
        assert check_image(special) == ("unreadable", "not a regular file"), special


def test_truncated_jpeg_agrees_with_pillow_at_every_cut(tmp_path: Path) -> None:
    """Independent oracle: Pillow's full decode raises for a truncated JPEG (LOAD_TRUNCATED_IMAGES off).

    Every prefix of a small JPEG (baseline, progressive, with restart markers, with an EXIF
    segment) is complete exactly when Pillow decodes it without error.
    """
    rgb = noise(3, (24, 40))[:, :, ::-1]
    exif = Image.Exif()
    exif[0x0112] = 1
    variants = {"baseline": {}, "progressive": {"progressive": True}, "restarts": {"restart_marker_blocks": 1},
                "exif": {"exif": exif.tobytes()}}
    for name, options in variants.items():
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, "JPEG", quality=90, **options)
        data = buffer.getvalue()
        assert {"progressive": data.count(b"\xff\xda") > 1, "restarts": b"\xff\xd0" in data,
                "exif": b"Exif" in data}.get(name, True), name  # the variant is what it says
        for cut in range(len(data) + 1):
            prefix = data[:cut]
            try:
                with Image.open(io.BytesIO(prefix)) as im:
                    im.load()
                pillow_ok = True
            except (OSError, SyntaxError, ValueError):
                pillow_ok = False
            assert jpeg_is_complete(prefix) == pillow_ok, (name, cut, len(data))
        # bytes after the end-of-image marker (cameras append data there) are not a truncation
        assert jpeg_is_complete(data + b"\x00trailer" * 10)


def test_an_early_end_marker_inside_a_segment_is_not_the_end(tmp_path: Path) -> None:
    """An EXIF thumbnail is a whole JPEG inside the APP1 segment, EOI included; cutting the outer
    image after that EOI still leaves it truncated."""
    inner = jpeg(tmp_path / "inner.jpg", noise(5, (8, 8))).read_bytes()
    outer = jpeg(tmp_path / "outer.jpg", noise(6, (32, 32))).read_bytes()
    app1 = b"Exif\x00\x00" + inner
    data = outer[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + outer[2:]
    assert jpeg_is_complete(data)
    cut = data.find(inner) + len(inner) + 10
    assert inner.endswith(b"\xff\xd9") and not jpeg_is_complete(data[:cut])


# ---------------------------------------------------------------------------------------------
# a whole run with the corpus mixed in: synthetic pictures, the Dlib model, no detector


def corpus_dataset(root: Path) -> dict:
    """make_csv_dataset's noise 'faces' plus every image case, each paired with the source picture."""
    make_csv_dataset(root, n_subjects=3, per_subject=2)
    cases = write_image_corpus(root, root / "s0" / "img0.png", "s0")
    images = pd.read_csv(root / "images.csv", dtype=str, keep_default_na=False)
    extra = [{"file": c.rel, "person": c.subject, "gender": "male"} for c in cases.values()]
    extra.append({"file": "corpus/absent.jpg", "person": "Absent_File", "gender": "male"})
    extra.append({"file": "corpus/unlabelled.png", "person": "Unlabelled", "gender": ""})
    cv2.imwrite(str(root / "corpus" / "unlabelled.png"), noise(9))
    images = pd.concat([images, pd.DataFrame(extra)], ignore_index=True)
    images.to_csv(root / "images.csv", index=False)
    pairs = pd.read_csv(root / "pairs.csv", dtype=str, keep_default_na=False)
    person = dict(zip(images["file"], images["person"]))
    new = [{"image_a": "s0/img0.png", "image_b": f, "mated": str(person[f] == "s0")} for f in [r["file"] for r in extra]]
    pd.concat([pairs, pd.DataFrame(new)], ignore_index=True).to_csv(root / "pairs.csv", index=False)
    return cases


def corpus_config(root: Path, cache: Path) -> dict:
    cfg = csv_config(root, cache, thresholds={"deepface_default": True, "target_fmr": [], "fixed": [0.5]})
    cfg["dataset"]["max_pixels"] = 1_000_000
    return cfg


@pytest.fixture(scope="module")
def synthetic_corpus_run(tmp_path_factory: pytest.TempPathFactory):
    if importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("needs dlib-bin and face_recognition_models")
    base = tmp_path_factory.mktemp("corpus-run")
    cases = corpus_dataset(base / "data")
    config = validate_config(corpus_config(base / "data", base / "cache"))
    result = run_benchmark(config, out_dir=base / "run", progress=False)
    return base, cases, result


def test_every_unscreened_case_gets_its_verdict_and_the_run_completes(synthetic_corpus_run) -> None:
    base, cases, result = synthetic_corpus_run
    failures = pd.read_csv(base / "run" / "failures.csv", keep_default_na=False).set_index("image_id")
    for name, case in cases.items():
        if case.screened:
            continue
        if case.status == "ok":
            assert case.rel not in failures.index, name
        else:
            assert failures.loc[case.rel, "status"] == case.status, name
            assert case.detail is None or failures.loc[case.rel, "detail"] == case.detail, name
    absent = base / "data" / "corpus" / "absent.jpg"
    assert failures.loc["corpus/absent.jpg"].tolist() == ["missing", f"no file at {absent}"]
    assert failures.loc["broken.jpg"].tolist() == ["unreadable", UNDECODABLE]

    # Nothing dropped: every listed pair is in scores.csv; a pair with a failed image has no score
    # and counts in n_failed, which the manifest's embedding stats agree with.
    scores = pd.read_csv(base / "run" / "scores.csv", keep_default_na=False)
    pairs = pd.read_csv(base / "data" / "pairs.csv")
    assert len(scores) == len(pairs)
    failed = set(failures.index)
    bad = scores["image_a"].isin(failed) | scores["image_b"].isin(failed)
    assert (scores.loc[bad, "score"] == "").all() and (scores.loc[~bad, "score"] != "").all()
    per_group = pd.read_csv(base / "run" / "per_group.csv")
    overall = per_group[(per_group["attribute"] == "all") & (per_group["threshold_name"] == "fixed=0.5")].iloc[0]
    assert overall["n_failed"] == bad.sum() and overall["n_mated"] + overall["n_nonmated"] == (~bad).sum()
    assert result.embed_stats.n_failed == len(failed)
    assert json.loads((base / "run" / "manifest.json").read_text())["embedding"]["n_failed"] == len(failed)
    report = (base / "run" / "report.md").read_text()
    assert "## Failure to enrol" in report and "| missing " in report and "| unreadable " in report


def test_unusual_names_and_a_missing_label_keep_their_rows(synthetic_corpus_run) -> None:
    base, cases, _ = synthetic_corpus_run
    scores = pd.read_csv(base / "run" / "scores.csv", keep_default_na=False)
    named = cases["non-ASCII and space in the name"].rel
    assert named == "corpus/Zoë Ünïcode/façade 01.jpg"
    assert scores.loc[scores["image_b"] == named, "score"].ne("").all()
    row = scores[scores["image_b"] == "corpus/unlabelled.png"].iloc[0]
    assert row["gender_b"] == "unknown" and row["score"] != ""
    fte = pd.read_csv(base / "run" / "failure_to_enrol.csv")
    assert "unknown" in set(fte.loc[fte["attribute"] == "gender", "group"])


def test_copies_of_one_picture_are_reported_with_their_pairs(synthetic_corpus_run) -> None:
    """The source, its byte copy under another subject, and the lossless RGBA and 16-bit re-saves
    decode to the same pixels: bit-identical embeddings, so the copy's non-mated pair is a certain
    false match. The run keeps those pairs and says so."""
    base, cases, result = synthetic_corpus_run
    caveats = result.manifest["dataset"]["caveats"]
    copies = [c for c in caveats if "bit-identical embeddings" in c]
    members = sorted(["s0/img0.png", cases["RGBA"].rel, cases["16-bit PNG"].rel,
                      cases["duplicate file under another name and subject"].rel])
    assert copies == [
        f"4 images in 1 group(s) have bit-identical embeddings, i.e. the same picture under several names "
        f"(first: {' = '.join(members[:3])}); 3 scored pair(s) compare two copies (1 non-mated, each a "
        "certain false match)."
    ]
    assert copies[0] in (base / "run" / "report.md").read_text()
    scores = pd.read_csv(base / "run" / "scores.csv")
    copy = scores[scores["image_b"] == cases["duplicate file under another name and subject"].rel].iloc[0]
    assert not copy["mated"] and copy["score"] == pytest.approx(1.0, abs=1e-6)


def test_screened_cases_are_counted_without_being_decoded(synthetic_corpus_run) -> None:
    base, cases, _ = synthetic_corpus_run
    failures = pd.read_csv(base / "run" / "failures.csv", keep_default_na=False).set_index("image_id")
    for name, case in cases.items():
        if case.screened:
            assert case.rel in failures.index, f"{name}: embedded as if it were whole"
            assert failures.loc[case.rel].tolist() == [case.status, case.detail], name


# ---------------------------------------------------------------------------------------------
# identical_embeddings and copies_caveat on hand-made inputs


def test_identical_embeddings_groups_equal_rows_of_ok_images_only() -> None:
    ids = ["a", "b", "c", "d", "e", "f"]
    m = np.array([[1, 2], [3, 4], [1, 2], [np.nan, np.nan], [np.nan, np.nan], [3, 4]], dtype=np.float32)
    status = pd.Series(["ok", "ok", "ok", "unreadable", "missing", "ok"], index=ids)
    assert identical_embeddings(ids, m, status) == [("a", "c"), ("b", "f")]
    # -0.0 and 0.0 are different results, so not one picture
    z = np.array([[0.0, 1.0], [-0.0, 1.0]], dtype=np.float32)
    assert identical_embeddings(["x", "y"], z, pd.Series("ok", index=["x", "y"])) == []
    assert identical_embeddings([], np.zeros((0, 0), np.float32), pd.Series(dtype=str)) == []


def test_copies_caveat_counts_pairs_of_copies() -> None:
    groups = [("a", "c", "g"), ("b", "f")]
    pairs = pd.DataFrame({"image_a": ["a", "c", "b", "a", "x"], "image_b": ["c", "a", "f", "b", "g"],
                          "mated": [True, False, False, False, True]})
    text = copies_caveat(groups, pairs)
    assert text.startswith("5 images in 2 group(s)") and "(first: a = c = g)" in text
    assert "3 scored pair(s) compare two copies (2 non-mated" in text
    assert "all 4 pairs of copies are scored" in copies_caveat(groups, None)  # 3 + 1
    assert copies_caveat([], pairs) is None


# ---------------------------------------------------------------------------------------------
# skin-tone estimation screens files the same way (wired in frbench.annotate.ita)


def test_ita_counts_the_bomb_and_a_truncated_jpeg_without_decoding(tmp_path: Path, bomb: Path) -> None:
    pytest.importorskip("dlib")
    truncated = truncated_jpeg(tmp_path / "t.jpg", noise())
    images = pd.DataFrame({"image_id": ["bomb", "t"], "path": [str(bomb), str(truncated)], "subject_id": ["a", "b"]})
    started = time.perf_counter()
    out = estimate_ita_images(images, ItaOptions(), cache_dir=tmp_path / "cache", progress=False)
    assert time.perf_counter() - started < 5
    assert out["status"].tolist() == ["too_large", "unreadable"]
    assert out["detail"].iloc[1] == TRUNCATED and out["ita"].isna().all()


# ---------------------------------------------------------------------------------------------
# dataset files: one-line errors naming the file and line, before any embedding


def write_csv_dataset(root: Path, images: str, pairs: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel in ("a/1.png", "a/2.png", "b/1.png"):
        (root / rel).parent.mkdir(exist_ok=True)
        cv2.imwrite(str(root / rel), noise())
    (root / "images.csv").write_text(images)
    (root / "pairs.csv").write_text(pairs)
    return root


IMAGES = "file,person,gender\na/1.png,a,female\na/2.png,a,female\nb/1.png,b,male\n"


@pytest.mark.parametrize(
    "images, pairs, message",
    [
        (IMAGES, "image_a,image_b\na/1.png,a/2.png\na/1.png,c/9.png\n",
         r"pairs\.csv:3: image_b 'c/9\.png' is not in the images CSV"),
        (IMAGES, "image_a,image_b\na/1.png,a/2.png,extra\n", r"pairs\.csv:2: more fields than the header has"),
        (IMAGES, "image_a,image_b\na/1.png,a/2.png\na/1.png,b/1.png,x\n", r"pairs\.csv:3: 3 fields, the header has 2"),
        (IMAGES, "image_a,image_b,mated\na/1.png,b/1.png,perhaps\n", r"pairs\.csv:2: mated 'perhaps' is not true/false"),
        (IMAGES, "image_a,image_b\na/1.png,a/1.png\n", r"pairs\.csv:2: pairs image 'a/1\.png' with itself"),
        (IMAGES.replace("b/1.png,b,male", "b/1.png,b,Female"), "image_a,image_b\na/1.png,b/1.png\n",
         r"images\.csv:4: gender 'Female' differs from 'female' \(line 2\) only in case"),
        (IMAGES + "../../etc/passwd,c,male\n", "image_a,image_b\na/1.png,b/1.png\n",
         r"images\.csv:5: path '\.\./\.\./etc/passwd' leads outside the dataset root"),
    ],
)
def test_bad_csv_dataset_files_name_file_and_line(tmp_path: Path, images: str, pairs: str, message: str) -> None:
    root = write_csv_dataset(tmp_path / "data", images, pairs)
    config = validate_config(csv_config(root, tmp_path / "cache"))
    with pytest.raises(DatasetError, match=message) as err:
        run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_a_label_value_missing_is_unknown_and_any_other_value_a_group(tmp_path: Path) -> None:
    images = "file,person,gender\na/1.png,a,\na/2.png,a,\nb/1.png,b,nonbinary\n"
    root = write_csv_dataset(tmp_path / "data", images, "image_a,image_b\na/1.png,b/1.png\n")
    cfg = validate_config(csv_config(root, tmp_path / "cache")).dataset
    ds = load_dataset(cfg, tmp_path)
    table = ds.images.set_index("image_id")
    assert table.loc["a/1.png", ["gender", "gender_source"]].tolist() == ["unknown", "unknown"]
    assert table.loc["b/1.png", ["gender", "gender_source"]].tolist() == ["nonbinary", "dataset"]


def test_a_subject_with_one_image_has_no_mated_pairs_but_stays(tmp_path: Path) -> None:
    from frbench.pairs.protocols import generated_pairs

    root = write_csv_dataset(tmp_path / "data", IMAGES, "image_a,image_b\na/1.png,b/1.png\n")
    ds = load_dataset(validate_config(csv_config(root, tmp_path / "cache")).dataset, tmp_path)
    pairs = generated_pairs(ds.images, n_nonmated=2, mated_per_subject=None, match_on=[], seed=0)
    subject = dict(zip(ds.images["image_id"], ds.images["subject_id"]))
    mated = pairs[pairs["mated"]]
    assert [(subject[a], subject[b]) for a, b in zip(mated["image_a"], mated["image_b"])] == [("a", "a")]
    assert (pairs.loc[~pairs["mated"], ["image_a", "image_b"]] == "b/1.png").any(axis=1).all()


@pytest.mark.parametrize(
    "pairs, line, words",
    [
        ("2\t1\nAnn_Smith\t1\t7\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\t3\nChen_Li\t2\tDee_Kay\t1\n", 2,
         "image Ann_Smith/Ann_Smith_0007.jpg is not in images_deepfunneled/"),
        ("2\t1\nAnn_Smith\t1\t2\nAnn_Smith\t1\tBob_Jones\nBob_Jones\t1\t3\nChen_Li\t2\tDee_Kay\t1\n", 3,
         "expected a non-mated pair"),
        ("2\t1\nAnn_Smith\t1\t²\nAnn_Smith\t1\tBob_Jones\t3\nBob_Jones\t1\t3\nChen_Li\t2\tDee_Kay\t1\n", 2,
         "image number '²' is not a positive integer"),
        ("2 ²\nAnn_Smith\t1\t2\n", 1, "expected the header"),
        ("1\t1\n../../etc\t1\t2\n..\t1\tBob_Jones\t3\n", 2, "image ../../etc/../../etc_0001.jpg is not in"),
    ],
)
def test_bad_lfw_pairs_file_names_file_and_line(tmp_path: Path, pairs: str, line: int, words: str) -> None:
    root = make_lfw(tmp_path / "lfw", pairs)
    with pytest.raises(DatasetError) as err:
        load_lfw(root)
    assert str(err.value).startswith(f"{root / 'pairs.txt'}:{line}: ") and words in str(err.value)


# ---------------------------------------------------------------------------------------------
# config files and --set: the field and the file, a suggestion for a typo, before any work


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("dataset: {name: lfw}\nthresholds: {target_fmrs: [0.01]}\n", [],
         "{p}: unknown key 'thresholds.target_fmrs'; did you mean 'target_fmr'?"),
        ("dataset: {name: lfw, fromat: csv}\n", [], "{p}: unknown key 'dataset.fromat'; did you mean 'format'?"),
        ("dataset: {name: lfw}\n", ["model.detecter=opencv"],
         "{p} (--set 'model.detecter=opencv'): unknown key 'model.detecter'; did you mean 'detector'?"),
        ("dataset: {name: lfw}\n", ["exectuion.workers=2"],
         "{p} (--set 'exectuion.workers=2'): unknown key 'exectuion'; did you mean 'execution'?"),
        ("dataset: {name: lfw}\nthresholds: {target_fmr: 0.001}\n", [],
         "{p}: 'thresholds.target_fmr': Input should be a valid list (got 0.001)"),
        ("dataset: {name: lfw}\nmodel: Dlib\n", [],
         "{p}: 'model': Input should be a valid dictionary or instance of ModelConfig (got 'Dlib')"),
        ("dataset: {name: lfw}\n", ["execution.workers=many"],
         "{p} (--set 'execution.workers=many'): 'execution.workers': Input should be a valid integer, unable to parse "
         "string as an integer (got 'many')"),
        ("dataset: {name: lfw}\nmodel: {name: ArcFce}\n", [], "{p}: 'model.name': unknown recognition model (got 'ArcFce'); did you mean 'ArcFace'? Valid: VGG-Face,"),
        ("dataset: {name: lfw}\nmodel: {detector: retina}\n", [], "{p}: 'model.detector': unknown detector (got 'retina'); did you mean 'retinaface'? Valid: skip, opencv,"),
        ("dataset: {name: lfw}\nmodel: {name: Dlib}\nmodel: {detector: skip}\n", [],
         "{p} line 3: invalid YAML: key 'model' repeated (first at line 2)"),
    ],
)
def test_config_problems_name_file_and_field(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    path = config_file(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    assert str(err.value).startswith(message.format(p=path)), str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_model_lists_every_valid_name(tmp_path: Path) -> None:
    from deepface.modules import modeling

    with pytest.raises(ConfigError) as err:
        load_config(config_file(tmp_path, "dataset: {name: lfw}\nmodel: {name: NoSuchNet}\n"))
    valid = str(err.value).split("Valid: ")[1].split(", ")
    assert valid == [*modeling.AVAILABLE_MODELS["facial_recognition"], "scores"]
    assert "did you mean" not in str(err.value)


def test_cli_stops_on_config_problems_before_any_work(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(csv_config(root, tmp_path / "cache")))
    (tmp_path / "somefile.txt").write_text("a file, not a folder")
    cases = [
        (["--set", "model.name=Dlb"], "did you mean 'Dlib'?"),
        (["--set", "model.detector=[opencv, dlb]"],
         "(grid cell model.detector=dlb) (--set 'model.detector=[opencv, dlb]'): 'model.detector': unknown detector "
         "(got 'dlb'); did you mean 'dlib'?"),
        (["-o", str(tmp_path / "somefile.txt" / "run")],
         f"output directory {tmp_path / 'somefile.txt' / 'run'} cannot be created: {tmp_path / 'somefile.txt'} is a file"),
    ]
    for args, words in cases:
        result = CliRunner().invoke(main, ["run", str(path), "-q", *args])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("frbench: error: ") and words in lines[0], result.output
    assert not (tmp_path / "cache").exists()


def test_unwritable_output_directory_fails_before_any_work_even_for_root(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    (tmp_path / "somefile.txt").write_text("x")
    config = validate_config(csv_config(root, tmp_path / "cache"))
    with pytest.raises(OutputError, match="somefile.txt is a file, not a directory"):
        run_benchmark(config, out_dir=tmp_path / "somefile.txt" / "run", progress=False)
    assert not (tmp_path / "cache").exists()


def test_unknown_group_is_refused_before_skin_tone_estimation(tmp_path: Path) -> None:
    root = make_csv_dataset(tmp_path / "data", n_subjects=2, per_subject=2)
    config = validate_config(csv_config(root, tmp_path / "cache", groups=["skin_tone", "gendr"],
                                        annotate={"skin_tone": "ita"}))
    with pytest.raises(ConfigError, match="groups: 'gendr' is not an attribute"):
        run_benchmark(config, out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "cache").exists()  # the ITA cache is made by the estimation


# ---------------------------------------------------------------------------------------------
# a small LFW subset with the real Dlib model and detector, with and without the corpus


LFW_PAIRS = 5  # mated and as many non-mated pairs of fold 1


def lfw_corpus_dataset(lfw: Path, root: Path) -> tuple[dict, pd.DataFrame, str, str]:
    """images/pairs CSVs of LFW's first pairs (base_*.csv) and the same plus the corpus (all_*.csv)."""
    subset = load_lfw(lfw_subset(lfw, root / "lfw-subset", n=LFW_PAIRS))
    (root / "lfw").symlink_to(lfw / "images_deepfunneled")
    used = set(subset.pairs["image_a"]) | set(subset.pairs["image_b"])
    lfw_images = subset.images[subset.images["image_id"].isin(used)]
    base_images = pd.DataFrame({"file": "lfw/" + lfw_images["image_id"], "person": lfw_images["subject_id"],
                                "gender": lfw_images["gender"]})
    base_pairs = pd.DataFrame({"image_a": "lfw/" + subset.pairs["image_a"], "image_b": "lfw/" + subset.pairs["image_b"]})
    base_images.to_csv(root / "base_images.csv", index=False)
    base_pairs.to_csv(root / "base_pairs.csv", index=False)

    a_id, b_id = subset.pairs.iloc[0]["image_a"], subset.pairs.iloc[-1]["image_b"]
    a_subject = a_id.split("/")[0]
    cases = write_image_corpus(root, root / "lfw" / a_id, a_subject)
    a, b = cv2.imread(str(root / "lfw" / a_id)), cv2.imread(str(root / "lfw" / b_id))
    canvas = np.full((250, 420, 3), 128, np.uint8)
    canvas[:, :250] = a
    canvas[50:200, 260:410] = cv2.resize(b, (150, 150))  # the other person, smaller
    jpeg(root / "corpus" / "two_faces.jpg", canvas)
    gradient = np.repeat(np.linspace(0, 255, 300)[None, :, None], 200, axis=0).astype(np.uint8)
    cv2.imwrite(str(root / "corpus" / "no_face.png"), np.repeat(gradient, 3, axis=2))
    gender = dict(zip(lfw_images["subject_id"], lfw_images["gender"]))
    extra = [{"file": c.rel, "person": c.subject, "gender": gender.get(c.subject, "")} for c in cases.values()]
    extra += [{"file": "corpus/two_faces.jpg", "person": a_subject, "gender": gender[a_subject]},
              {"file": "corpus/no_face.png", "person": "No_Face", "gender": ""}]
    new_pairs = [{"image_a": "lfw/" + a_id, "image_b": row["file"]} for row in extra]
    new_pairs.append({"image_a": "lfw/" + b_id, "image_b": "corpus/two_faces.jpg"})
    pd.concat([base_images, pd.DataFrame(extra)], ignore_index=True).to_csv(root / "all_images.csv", index=False)
    pd.concat([base_pairs, pd.DataFrame(new_pairs)], ignore_index=True).to_csv(root / "all_pairs.csv", index=False)
    return cases, pd.DataFrame(new_pairs), "lfw/" + a_id, "lfw/" + b_id


def lfw_config(root: Path, cache: Path, which: str) -> dict:
    return {
        "name": f"lfw-{which}",
        "dataset": {"name": "mixed", "format": "csv", "root": str(root), "images": f"{which}_images.csv",
                    "pairs": f"{which}_pairs.csv", "columns": {"path": "file", "subject_id": "person"},
                    "max_pixels": 1_000_000},
        "model": {"name": "Dlib", "detector": "dlib", "align": True, "distance_metric": "euclidean"},
        "thresholds": {"deepface_default": True, "target_fmr": [], "fixed": [-0.5]},
        "groups": ["gender"],
        "cache": {"dir": str(cache)},
        "execution": {"executor": "serial"},
        "offline": True,
    }


@pytest.fixture(scope="module")
def lfw_corpus_runs(lfw: Path, tmp_path_factory: pytest.TempPathFactory):
    if importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("needs dlib-bin and face_recognition_models")
    root = tmp_path_factory.mktemp("lfw-corpus")
    cases, new_pairs, a_file, b_file = lfw_corpus_dataset(lfw, root / "data")
    runs = {}
    for which in ("all", "base"):
        config = validate_config(lfw_config(root / "data", root / "cache", which))
        runs[which] = run_benchmark(config, out_dir=root / which, progress=False)
    return root, cases, new_pairs, (a_file, b_file), runs


@pytest.mark.lfw
def test_lfw_with_the_corpus_gives_the_same_results_for_every_good_pair(lfw_corpus_runs) -> None:
    root, cases, new_pairs, (a_file, b_file), runs = lfw_corpus_runs
    base = pd.read_csv(root / "base" / "scores.csv")
    mixed = pd.read_csv(root / "all" / "scores.csv")
    assert runs["base"].embed_stats.n_failed == 0
    # every LFW pair: the same score, byte for byte as written
    joined = base.merge(mixed, on=["image_a", "image_b"], suffixes=("_base", "_all"), validate="one_to_one")
    assert len(joined) == len(base) == 2 * LFW_PAIRS
    assert (joined["score_base"] == joined["score_all"]).all()
    assert len(mixed) == len(base) + len(new_pairs)

    failures = pd.read_csv(root / "all" / "failures.csv", keep_default_na=False).set_index("image_id")
    for name, case in cases.items():
        if not case.screened and case.status != "ok":
            assert failures.loc[case.rel, ["status", "detail"]].tolist() == [case.status, case.detail], name
    assert failures.loc["corpus/no_face.png", "status"] == "no_face"

    against_a = mixed[mixed["image_a"] == a_file].set_index("image_b")["score"]
    # deepface's Dlib threshold is euclidean 0.6 (similarity -0.6): each version of A's picture matches A
    for name in ("grayscale", "CMYK JPEG", "EXIF-rotated photo", "non-ASCII and space in the name"):
        assert against_a[cases[name].rel] > -0.6, name
    # EXIF orientation honoured: the rotated file is the same picture (a sideways one has no face)
    assert against_a[cases["EXIF-rotated photo"].rel] > -0.1
    for name in ("RGBA", "16-bit PNG", "duplicate file under another name and subject"):
        assert against_a[cases[name].rel] == 0.0, name
    # several faces: the largest is embedded (A's), not the smaller one of the other person
    assert against_a["corpus/two_faces.jpg"] > -0.3
    two_b = mixed[(mixed["image_a"] == b_file) & (mixed["image_b"] == "corpus/two_faces.jpg")]["score"]
    assert len(two_b) == 1 and two_b.iloc[0] < -0.6


@pytest.mark.lfw
def test_lfw_with_the_corpus_counts_every_bad_file(lfw_corpus_runs) -> None:
    root, cases, _, _, _ = lfw_corpus_runs
    failures = pd.read_csv(root / "all" / "failures.csv", keep_default_na=False).set_index("image_id")
    expected = {c.rel: [c.status, c.detail] for c in cases.values() if c.status != "ok"}
    expected["corpus/no_face.png"] = ["no_face", failures.loc["corpus/no_face.png", "detail"]]
    assert {k: v.tolist() for k, v in failures[["status", "detail"]].iterrows()} == expected
