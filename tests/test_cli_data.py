"""``frbench data list | fetch | check`` through click, registered on frbench's own group."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from frbench.cli.app import _Group
from frbench.cli.data import data
from frbench.datasets import registry

# The five-image LFW in its published files (test_fetch builds it for the download tests).
from tests.test_fetch import lfw_sources, tiny_lfw_info


@pytest.fixture
def frbench():
    group = _Group(name="frbench")
    group.add_command(data)
    runner = CliRunner()
    return lambda *args: runner.invoke(group, ["data", *map(str, args)])


def test_list_shows_every_dataset_and_its_state(frbench, tmp_path):
    result = frbench("list", "--data-root", tmp_path)
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[2:]}
    assert set(lines) == {"lfw", "rfw", "bfw", "deepface-pairs"}
    assert "absent" in lines["lfw"] and "frbench data fetch lfw" in lines["lfw"]
    assert "http://whdeng.cn/RFW/testing.html" in lines["rfw"]
    (tmp_path / "rfw" / "test").mkdir(parents=True)
    assert "incomplete" in frbench("list", "--data-root", tmp_path).stdout


def test_list_and_check_the_real_lfw(frbench, lfw):
    listed = frbench("list", "--data-root", lfw.parent)
    assert [line for line in listed.stdout.splitlines() if line.startswith("lfw ")][0].split()[3] == "complete"
    checked = frbench("check", "lfw", "--data-root", lfw.parent)
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.strip() == f"lfw: complete ({lfw})"


def test_check_lists_problems_and_fails(frbench, tmp_path, monkeypatch):
    monkeypatch.setenv("FRBENCH_DATA", str(tmp_path))
    (tmp_path / "lfw" / "images_deepfunneled").mkdir(parents=True)
    result = frbench("check", "lfw")
    assert result.exit_code == 2
    assert f"{tmp_path / 'lfw'}/pairs.txt: missing" in result.stdout.splitlines()
    assert f"{tmp_path / 'lfw'}/images_deepfunneled: 0 of 13233 images" in result.stdout.splitlines()
    assert result.stderr.strip() == f"frbench: error: lfw: 6 problem(s) in {tmp_path / 'lfw'}"


def test_unknown_and_unfetchable_datasets(frbench, tmp_path):
    unknown = frbench("check", "casia", "--data-root", tmp_path)
    assert unknown.exit_code == 2
    assert "unknown dataset 'casia'; frbench knows lfw, rfw, bfw, deepface-pairs" in unknown.stderr
    rfw = frbench("fetch", "rfw", "--data-root", tmp_path)
    assert rfw.exit_code == 2 and "rfw cannot be downloaded by frbench" in rfw.stderr
    assert not (tmp_path / "rfw").exists()


def test_fetch_from_files_downloaded_by_hand(frbench, tmp_path, monkeypatch):
    sources = lfw_sources()
    by_hand = tmp_path / "Downloads"
    by_hand.mkdir()
    for name, body in sources.items():
        (by_hand / name).write_bytes(body)
    # Unreachable URLs: everything must come from --from, verified against the hashes.
    monkeypatch.setitem(registry.DATASETS, "lfw", tiny_lfw_info("http://127.0.0.1:9", sources))
    result = frbench("fetch", "lfw", "--data-root", tmp_path / "data", "--from", by_hand, "--timeout", 2)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"lfw: complete ({tmp_path / 'data' / 'lfw'})"
    assert "unpacked from lfw-deepfunneled.tgz" in result.stderr
    assert frbench("check", "lfw", "--data-root", tmp_path / "data").exit_code == 0
