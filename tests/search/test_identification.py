"""measure_identification end to end on synthetic embeddings: tables, sweeps, plots, and the
imported-candidate-list path reproducing the run's own tables."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from frbench.search.identification import (
    CompositionParams,
    IdentificationParams,
    measure_identification,
    report_section,
    write_identification,
)
from frbench.search.imported import read_candidate_lists
from frbench.search.measures import search_counts
from frbench.search.topk import faiss_available


def synthetic(n_subjects=240, d=16, seed=0):
    """Subjects with 1-5 images around a subject centre; gender and tone alternate."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_subjects, d))
    rows, embs = [], []
    for s in range(n_subjects):
        for j in range(int(rng.integers(1, 6))):
            rows.append({
                "image_id": f"S{s:03d}/S{s:03d}_{j:04d}.jpg", "path": "", "subject_id": f"S{s:03d}",
                "gender": "female" if s % 3 == 0 else "male", "tone": "dark" if s % 2 else "light",
            })
            embs.append(centres[s] + 0.7 * rng.standard_normal(d))
    images = pd.DataFrame(rows)
    emb = np.array(embs, dtype=np.float32)
    status = pd.Series("ok", index=images["image_id"])
    status.iloc[[4, 9]] = "no_face"
    emb[[4, 9]] = np.nan
    return images, emb, status


PARAMS = IdentificationParams(
    candidates=20, ranks=(1, 5, 20), target_fpir=(0.1, 0.02), gallery_size_smallest=20, gallery_size_steps=3,
    gallery_size_repeats=2, composition=CompositionParams("gender", "female", (0.25, 0.6), repeats=2),
)


@pytest.fixture(scope="module")
def result():
    images, emb, status = synthetic()
    return measure_identification(images, emb, status, ["gender", "tone"], [["gender", "tone"]], PARAMS)


def test_identification_table_rows_and_thresholds(result):
    rates = result.identification
    names = ["rank=1", "rank=5", "rank=20", "fpir=1e-01", "fpir=2e-02"]
    assert list(dict.fromkeys(rates["threshold_name"])) == names
    # 1 all row + 2 genders + 2 tones + 4 intersections, per point
    assert len(rates) == len(names) * 9
    for name, target in (("fpir=1e-01", 0.1), ("fpir=2e-02", 0.02)):
        r = rates[(rates["threshold_name"] == name) & (rates["attribute"] == "all")].iloc[0]
        assert r["fpir"] <= target and r["rank"] == 20
    # the two images without a face: failed searches if they are probes, failed templates if in the gallery
    _images, _, status = synthetic()
    failed = set(status.index[status != "ok"])
    fails = rates[(rates["threshold_name"] == "rank=1") & (rates["attribute"] == "all")].iloc[0]["n_failed"]
    assert fails == len(failed & set(result.split.probes["image_id"]))
    assert result.info["n_gallery_templates_failed"] == len(failed & set(result.split.gallery["image_id"]))
    assert fails + result.info["n_gallery_templates_failed"] == 2


def test_kernels_give_identical_tables():
    if not faiss_available():
        pytest.skip("faiss-cpu absent")
    images, emb, status = synthetic(120)
    kw = {"candidates": 10, "ranks": (1, 10), "gallery_size_steps": 0}
    a = measure_identification(images, emb, status, ["gender"], (), IdentificationParams(kernel="numpy", **kw))
    b = measure_identification(images, emb, status, ["gender"], (), IdentificationParams(kernel="faiss", **kw))
    pd.testing.assert_frame_equal(a.identification, b.identification)
    pd.testing.assert_frame_equal(a.table.candidates, b.table.candidates)


def test_imported_candidate_lists_reproduce_the_tables(result, tmp_path):
    write_identification(result, tmp_path, plots=False)
    images, _, _ = synthetic()
    imported = read_candidate_lists(tmp_path / "candidates.csv", result.split, images[["image_id", "gender", "tone"]],
                                    length=result.table.length)
    # Failed probes have no row in candidates.csv: they come back as missing searches, failed.
    assert imported.problems["missing_searches"].count == int((~result.table.searches["ok"]).sum())
    assert all(v.count == 0 for k, v in imported.problems.items() if k != "missing_searches")
    # An empty list and a failed search differ; the run returns full lists, so searches match.
    pd.testing.assert_frame_equal(
        imported.table.searches[result.table.searches.columns].reset_index(drop=True),
        result.table.searches.reset_index(drop=True),
        check_dtype=False,
    )
    points = result.points
    mine = search_counts(result.table, points, ["gender", "tone"], [["gender", "tone"]])
    theirs = search_counts(imported.table, points, ["gender", "tone"], [["gender", "tone"]])
    pd.testing.assert_frame_equal(mine, theirs)


def test_gallery_size_sweep(result):
    gs = result.gallery_size
    sizes = sorted(gs["n_gallery"].unique())
    assert sizes[0] == 20 and sizes[-1] == result.split.gallery["subject_id"].nunique()
    assert gs[gs["n_gallery"] == 20]["repeat"].nunique() == 2
    full = gs[(gs["n_gallery"] == sizes[-1]) & (gs["threshold_mode"] == "reset")]
    main = result.identification[result.identification["threshold_name"].str.startswith("fpir=")]
    cols = ["threshold_name", "attribute", "group", "n_mated", "n_fnm", "n_nonmated", "n_fm"]
    pd.testing.assert_frame_equal(full[cols].reset_index(drop=True), main[cols].reset_index(drop=True))
    fixed = gs[gs["threshold_mode"] == "fixed"]
    np.testing.assert_allclose(fixed["predicted_fpir"], 1 - (1 - fixed["fmr_1to1"]) ** fixed["n_gallery"])
    # FMR_g(T) is SEL / N on the full gallery
    f = fixed[(fixed["n_gallery"] == sizes[-1]) & (fixed["attribute"] == "all")]
    assert (f["fmr_1to1"] == f["n_sel"] / (f["n_nonmated"] * sizes[-1])).all()
    # the non-mated searches are the same at every size
    assert gs.loc[gs["attribute"] == "all", "n_nonmated"].nunique() == 1


def test_composition_sweep(result):
    comp = result.composition
    assert set(comp["attribute"]) == {"all", "gender"}
    natural = comp["natural_share"].iloc[0]
    assert set(comp["share"].round(6)) == {0.25, 0.6, round(natural, 6)}
    for share, part in comp.groupby("share"):
        assert (part["n_in_group"] == round(share * part["n_gallery"].iloc[0])).all()
    assert comp["n_gallery"].nunique() == 1


def test_outputs_plots_and_report(result, tmp_path):
    paths = write_identification(result, tmp_path)
    names = {p.name for p in paths}
    for expected in ("identification.csv", "searches.csv", "cmc.csv", "gallery_size.csv", "candidate_groups.csv",
                     "composition.csv", "candidates.csv", "gallery.csv", "probes.csv", "identification.json",
                     "cmc_gender.png", "gallery_size_tone.png", "candidate_groups_gender_rank_1.png"):
        assert expected in names
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "again"
    write_identification(result, again)
    assert (again / "plots" / "cmc_gender.png").read_bytes() == (tmp_path / "plots" / "cmc_gender.png").read_bytes()
    text = report_section(result)
    assert "| gender | female |" in text and "FPIR at fpir=2e-02" in text


def test_plots_need_no_pyplot_and_switch_no_backend(tmp_path):
    code = (
        "import sys, matplotlib; before = matplotlib.rcParams._get_backend_or_none();"
        "import pandas as pd; from frbench.search import plots;"
        "c = pd.DataFrame({'attribute': 'g', 'group': 'a', 'rank': [1, 2], 'n_mated': 3, 'cmc': [.5, .9],"
        " 'cmc_ci_low': [.1, .5], 'cmc_ci_high': [.9, 1.]});"
        f"plots.plot_cmc(c, 'g', {str(tmp_path / 'c.png')!r});"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported';"
        "assert matplotlib.rcParams._get_backend_or_none() == before, 'backend switched'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "c.png").is_file()


def test_written_split_lists_reproduce_the_measurement(result, tmp_path):
    write_identification(result, tmp_path, plots=False)
    images, emb, status = synthetic()
    params = IdentificationParams(
        candidates=20, ranks=(1, 5, 20), target_fpir=(0.1, 0.02), gallery_size_steps=0,
        gallery_file=tmp_path / "gallery.csv", probes_file=tmp_path / "probes.csv",
    )
    again = measure_identification(images, emb, status, ["gender", "tone"], [["gender", "tone"]], params)
    assert again.split.record["source"] == "files"
    assert again.split.record["gallery_sha256"] == result.split.record["gallery_sha256"]
    pd.testing.assert_frame_equal(again.identification, result.identification)
