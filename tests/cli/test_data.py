"""``frbench data list | fetch | check`` through click, registered on frbench's own group."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from frbench.cli import main
from frbench.datasets import registry

# The five-image LFW in its published files (test_fetch builds it for the download tests).
from tests.datasets.test_fetch import lfw_sources, tiny_lfw_info


@pytest.fixture
def frbench():
    # frbench's own group, never a stand-in: click caches a command's help option from the first
    # group that invokes it, so a bare group here took `-h` away from `data` for later tests
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["data", *map(str, args)])


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


def test_check_without_frbench_data_gives_the_hint_run_gives(frbench, tmp_path, monkeypatch):
    monkeypatch.delenv("FRBENCH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    result = frbench("check", "lfw")
    assert result.exit_code == 2
    line = result.stdout.strip()
    assert line.startswith("data/lfw: not found (FRBENCH_DATA is not set, so frbench looks in ./data;")
    assert "set FRBENCH_DATA or --data-root; see data/README.md" in line


def _deepface_folder(root):
    from tests.datasets.test_deepface_pairs import make_deepface

    return make_deepface(root)


def test_check_knows_a_dataset_by_its_folder_name(frbench, tmp_path):
    _deepface_folder(tmp_path / "deepface")
    result = frbench("check", "deepface", "--data-root", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"deepface-pairs: complete ({tmp_path / 'deepface'})"


def test_check_a_config_file_or_a_folder_with_its_format(frbench, tmp_path, monkeypatch):
    from tests.conftest import REPO

    _deepface_folder(tmp_path / "deepface")
    monkeypatch.setenv("FRBENCH_DATA", str(tmp_path))
    by_config = frbench("check", REPO / "configs" / "example-deepface-pairs.yaml")
    assert by_config.exit_code == 0, by_config.output
    assert by_config.stdout.strip() == f"deepface: complete ({tmp_path / 'deepface'})"
    _deepface_folder(tmp_path / "mine")
    by_format = frbench("check", "mine", "--format", "deepface-pairs")
    assert by_format.exit_code == 0 and by_format.stdout.strip() == f"mine: complete ({tmp_path / 'mine'})"
    # problems are those the run would meet, with file and line
    (tmp_path / "mine" / "master.csv").write_text("file_x,file_y,Decision\nimg1.jpg,img2.jpg,Maybe\n")
    broken = frbench("check", "mine", "--format", "deepface-pairs")
    assert broken.exit_code == 2 and "master.csv:2: Decision 'Maybe' is not Yes or No" in broken.stdout
    needs_files = frbench("check", "mine", "--format", "csv")
    assert needs_files.exit_code == 2 and "give a config file instead" in needs_files.output
