"""The README says what the code does: its config examples validate, and those named like a shipped
config are that config; the quick config's stated size is its size."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from frbench.config import load_config, validate_config
from frbench.datasets import load_dataset
from frbench.measure.protocols import protocol_for
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def readme_yaml_blocks() -> list[dict]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", README, re.S)]


def test_every_readme_config_validates_and_none_misnames_a_shipped_config() -> None:
    blocks = [b for b in readme_yaml_blocks() if isinstance(b, dict) and "dataset" in b]
    assert blocks
    shipped = {p.stem: p for p in (REPO / "configs").glob("*.yaml")}
    for block in blocks:
        config = validate_config(block, source="README.md")
        if config.name in shipped:
            # shown under a shipped config's name: it must be that config
            assert config == load_config(shipped[config.name]), config.name


def test_the_readme_config_table_names_configs_that_exist() -> None:
    for name in re.findall(r"^\| `(configs/[^`]+\.yaml)` \|", README, re.M):
        assert (REPO / name).is_file(), name


def test_the_quick_config_is_the_size_its_comment_and_the_readme_say(lfw: Path) -> None:
    path = REPO / "configs" / "lfw-dlib-quick.yaml"
    comment = path.read_text().splitlines()[0]
    pairs, images = (int(n) for n in re.search(r"\((\d+) pairs, (\d+) images\)", comment).groups())
    config = load_config(path)
    chosen_images, chosen_pairs = protocol_for(config).select(config, load_dataset(config.dataset, lfw.parent))
    assert (len(chosen_pairs), len(chosen_images)) == (pairs, images)
    assert f"embeds {images} images" in " ".join(README.split())
