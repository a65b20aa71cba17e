"""Datasets frbench knows by name: format, folder, required files, sources, terms, download files.

Only LFW and its label files can be downloaded by frbench; RFW and BFW are released by their
authors on request, under their own terms, so the registry only says where to ask and what the
folder must hold. Expected hashes are recorded where known, with where each comes from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.datasets.folder import IMAGE_SUFFIXES
from frbench.errors import DatasetError
from frbench.io.spreadsheet import write_csv


@dataclass(frozen=True)
class RemoteFile:
    """One file to download, verified before it is put in place.

    ``target`` is relative to the dataset folder. A tar archive (``archive_top`` set) is unpacked
    so that its single top-level folder ``archive_top`` becomes ``target``, holding
    ``expect_images`` image files where that number is known. ``hash_note`` says where the expected
    hashes come from, or why there are none.
    """

    target: str
    urls: tuple[str, ...]
    sha256: str | None = None
    md5: str | None = None
    hash_note: str = ""
    archive_top: str | None = None
    expect_images: int | None = None

    @property
    def filename(self) -> str:
        """The name the file is published under (the last part of its first URL)."""
        return self.urls[0].rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DerivedFile:
    """A file computed from downloaded ones: ``make(inputs, out)`` writes ``out`` or raises."""

    target: str
    inputs: tuple[str, ...]
    make: Callable[[Sequence[Path], Path], None]
    description: str


@dataclass(frozen=True)
class DatasetInfo:
    """What frbench knows about one dataset.

    ``folder`` is the folder name under $FRBENCH_DATA; ``required`` the paths (relative to it) the
    loader reads; ``image_counts`` maps a folder (relative) to the number of image files it holds
    when complete, where that number is published.
    """

    name: str
    format: str
    folder: str
    description: str
    terms: str
    sources: tuple[str, ...]
    required: tuple[str, ...]
    image_counts: dict[str, int] = field(default_factory=dict)
    files: tuple[RemoteFile, ...] = ()
    derived: tuple[DerivedFile, ...] = ()


@dataclass(frozen=True)
class DatasetStatus:
    """``present``: the folder exists; ``complete``: ``missing`` is empty. Each entry of
    ``missing`` is ``<relative path>: <what is wrong>``."""

    present: bool
    complete: bool
    missing: tuple[str, ...]


KUMAR_ROWS = 13143
KUMAR_RACE_COLUMNS = ("White", "Black", "Asian", "Indian")


def kumar_csv_from_npz(inputs: Sequence[Path], out: Path, rows: int = KUMAR_ROWS) -> None:
    """Write ``kumar_attributes_binary.csv`` from deepfeatinterp's ``lfw_binary_attributes2.npz``
    (``data``: images x attributes, boolean; ``attrname``) and ``filelist.txt`` (one
    ``lfw/NAME/NAME_NNNN.jpg`` per row of ``data``): column ``image`` (the file name), then one 0/1
    column per attribute.

    Raises DatasetError when the inputs do not have that shape or not ``rows`` rows.
    """
    npz_path, filelist_path = (Path(p) for p in inputs)
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            data, names = npz["data"], npz["attrname"]
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{npz_path}: not the expected .npz with 'data' and 'attrname' ({exc})") from exc
    files = [line.strip().rsplit("/", 1)[-1] for line in filelist_path.read_text(encoding="utf-8").splitlines()]
    files = [f for f in files if f]
    columns = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    if data.ndim != 2 or data.shape != (len(files), len(columns)) or len(files) != rows:
        raise DatasetError(
            f"{npz_path}: data of shape {data.shape} with {len(columns)} names and {len(files)} files in "
            f"{filelist_path.name}; expected {rows} rows, one per file, one column per name"
        )
    missing = [c for c in KUMAR_RACE_COLUMNS if c not in columns]
    if missing:
        raise DatasetError(f"{npz_path}: attrname lacks {missing}")
    table = pd.DataFrame(data.astype(int), columns=columns)
    table.insert(0, "image", files)
    write_csv(out, table)


_LFW_SITE = "http://vis-www.cs.umass.edu/lfw/"
_GENDER = "https://raw.githubusercontent.com/Lukeli0425/Gender-Classification/f9073b8115471f48e8b2c7646869bccfc2a0cc7e/"
_RACE = "https://raw.githubusercontent.com/usc-sail/mica-race-from-face/e6f587cb1c74a213deada639ab4a8f26d391d55c/"
_KUMAR = "https://raw.githubusercontent.com/paulu/deepfeatinterp/8281450bb651b223ec2398af18ae3c691e867e07/datasets/lfw/"
_REFERENCE = (
    "SHA-256 of the reference copy frbench is developed against (data/README.md names its commit); "
    "not published by the authors"
)

LFW = DatasetInfo(
    name="lfw",
    format="lfw",
    folder="lfw",
    description="Labeled Faces in the Wild, deep-funneled: 13,233 images of 5,749 people, View 2 pairs, "
    "gender and race label files",
    terms="The LFW site states no licence and asks that results on LFW not be used to conclude that an "
    "algorithm is fit for any commercial purpose. mica-race-from-face is MIT-licensed; see each label "
    "repository for its terms.",
    sources=(
        "https://vis-www.cs.umass.edu/lfw/ (not resolving since early 2025: tensorflow/datasets#11012, "
        "pytorch/vision#8888)",
        "https://github.com/Lukeli0425/Gender-Classification",
        "https://github.com/usc-sail/mica-race-from-face",
        "https://github.com/paulu/deepfeatinterp",
    ),
    required=(
        "images_deepfunneled",
        "pairs.txt",
        "labels/male_names.txt",
        "labels/female_names.txt",
        "labels/lfw_race_dict.json",
        "labels/kumar_attributes_binary.csv",
    ),
    image_counts={"images_deepfunneled": 13233},
    files=(
        RemoteFile(
            target="pairs.txt",
            urls=(_LFW_SITE + "pairs.txt", "https://ndownloader.figshare.com/files/5976006"),
            sha256="ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
            md5="9f1ba174e4e1c508ff7cdf10ac338a7d",
            hash_note="MD5 as published for the LFW site's pairs.txt (recorded by torchvision); SHA-256 of a "
            "copy with that MD5. The figshare copy is scikit-learn's mirror.",
        ),
        RemoteFile(
            target="labels/male_names.txt",
            urls=(_GENDER + "male_names.txt",),
            sha256="6ed9cd7a08a50aba4e9ea0d5edba25ae13871896ee2f3dc205b39fcd2a6bc728",
            hash_note=_REFERENCE,
        ),
        RemoteFile(
            target="labels/female_names.txt",
            urls=(_GENDER + "female_names.txt",),
            sha256="c57d2c7c535f9639660088cbc791655ef8748c26ca55fc866efd3796877ef39d",
            hash_note=_REFERENCE,
        ),
        RemoteFile(
            target="labels/lfw_race_dict.json",
            urls=(_RACE + "lfw_race_dict.json",),
            sha256="69681176c110e4b4d55afc071cda42f60333eb15a20a6f69c99b3bd090b4d16c",
            hash_note=_REFERENCE,
        ),
        RemoteFile(
            target="labels/deepfeatinterp/lfw_binary_attributes2.npz",
            urls=(_KUMAR + "lfw_binary_attributes2.npz",),
            hash_note=f"no known hash; its shape is checked when it is converted ({KUMAR_ROWS} rows)",
        ),
        RemoteFile(
            target="labels/deepfeatinterp/filelist.txt",
            urls=(_KUMAR + "filelist.txt",),
            hash_note=f"no known hash; checked with the .npz ({KUMAR_ROWS} lines)",
        ),
        RemoteFile(
            target="images_deepfunneled",
            urls=(_LFW_SITE + "lfw-deepfunneled.tgz",),
            md5="68331da3eb755a505a502b5aacb3c201",
            hash_note="MD5 published on the LFW site; no published SHA-256",
            archive_top="lfw-deepfunneled",
            expect_images=13233,
        ),
    ),
    derived=(
        DerivedFile(
            target="labels/kumar_attributes_binary.csv",
            inputs=("labels/deepfeatinterp/lfw_binary_attributes2.npz", "labels/deepfeatinterp/filelist.txt"),
            make=kumar_csv_from_npz,
            description="Kumar et al. attributes as CSV, one row per image",
        ),
    ),
)

RFW = DatasetInfo(
    name="rfw",
    format="rfw",
    folder="rfw",
    description="Racial Faces in the Wild, test set: African, Asian, Caucasian and Indian subsets with "
    "LFW-style pair lists",
    terms="Non-commercial research only, under the licence agreement the authors send on request.",
    sources=("http://whdeng.cn/RFW/testing.html",),
    required=tuple(f"test/data/{r}" for r in ("African", "Asian", "Caucasian", "Indian"))
    + tuple(f"test/txts/{r}/{r}_pairs.txt" for r in ("African", "Asian", "Caucasian", "Indian")),
)

BFW = DatasetInfo(
    name="bfw",
    format="bfw",
    folder="bfw",
    description="Balanced Faces in the Wild: pairs balanced over 4 ethnicities x 2 genders, 5 folds",
    terms="Research (and education) use under the authors' terms; register through the form linked "
    "from the repository.",
    sources=("https://github.com/visionjo/facerec-bias-bfw",),
    required=("bfw-v0.1.5-datatable.csv", "bfw-cropped-aligned"),
)

DEEPFACE = DatasetInfo(
    name="deepface-pairs",
    format="deepface-pairs",
    folder="deepface",
    description="deepface's own test images with master.csv (file_x, file_y, Decision): a pipeline "
    "check, far too small to measure bias",
    terms="MIT licence (the deepface repository).",
    sources=("https://github.com/serengil/deepface/tree/master/tests/unit/dataset",),
    required=("master.csv",),
)

DATASETS = {info.name: info for info in (LFW, RFW, BFW, DEEPFACE)}


def resolve_data_root(given: str | Path | None = None) -> Path:
    """Where datasets live, one folder per dataset: ``given``, else ``$FRBENCH_DATA``, else ``./data``."""
    return Path(given) if given is not None else Path(os.environ.get("FRBENCH_DATA", "data"))


def not_found_hint(option: str) -> str:
    """The end of every "dataset not found" message: where frbench looked and how to point it elsewhere.

    ``option`` is the other way to name the folder where the message arises (``dataset.root`` in
    a config, ``--data-root`` on the command line).
    """
    env = os.environ.get("FRBENCH_DATA")
    looked = f"FRBENCH_DATA is {env}" if env else "FRBENCH_DATA is not set, so frbench looks in ./data"
    return f"({looked}; set FRBENCH_DATA or {option}; see data/README.md)"


def get_dataset(name: str) -> DatasetInfo:
    """The registry entry for ``name`` or for the folder ``name`` (``deepface``: deepface-pairs);
    DatasetError naming the known ones otherwise."""
    if name in DATASETS:
        return DATASETS[name]
    by_folder = [info for info in DATASETS.values() if info.folder == name]
    if by_folder:
        return by_folder[0]
    raise DatasetError(f"unknown dataset {name!r}; frbench knows {', '.join(DATASETS)}")


def count_images(folder: Path) -> int:
    """Image files (by suffix, any case) anywhere under ``folder``."""
    return sum(
        1 for _, _, files in os.walk(folder) for f in files if os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES
    )


def dataset_status(info: DatasetInfo, folder: Path) -> DatasetStatus:
    """Whether ``folder`` exists and holds every required path and the published image counts."""
    folder = Path(folder)
    if not folder.is_dir():
        return DatasetStatus(present=False, complete=False, missing=(".: folder not found",))
    missing = [f"{rel}: missing" for rel in info.required if not (folder / rel).exists()]
    for rel, expected in info.image_counts.items():
        if (folder / rel).is_dir():
            found = count_images(folder / rel)
            if found != expected:
                missing.append(f"{rel}: {found} of {expected} images")
    return DatasetStatus(present=True, complete=not missing, missing=tuple(missing))
