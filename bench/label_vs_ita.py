"""An annotator's skin-tone labels against today's ITA estimate, and the labelling time, on the labelled subjects.

    python bench/label_vs_ita.py configs/lfw-dlib-skintone.yaml labels/lfw-skin-tone-page50/annotator-page50.csv

For the subjects a label file answers, the ITA lighter/darker the config's ``annotate`` options
give (``frbench annotate skin-tone``'s per-subject table without the label files, from the cache where it has been
computed) is treated as a second annotator named ``ita``, and :func:`frbench.label.agreement.agreement`
gives Cohen's kappa with a subject-bootstrap interval. The annotator's ``unsure`` answers and subjects without
an ITA estimate are left out of kappa (and counted). Also printed: the confusion table, the
annotators' Monk values per ITA answer, and the seconds between consecutive answers (breaks over
five minutes left out), i.e. the time per subject as labelled.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from frbench.annotate.apply import skin_tone_tables
from frbench.config import load_config
from frbench.datasets import load_dataset
from frbench.datasets.registry import resolve_data_root
from frbench.label.agreement import agreement, answer_intervals
from frbench.label.files import latest_answers, read_label_file
from frbench.embed.cache import resolve_cache_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("labels", type=Path)
    parser.add_argument("--replicates", type=int, default=2000)
    args = parser.parse_args()

    cfg = load_config(args.config, ())
    images = load_dataset(cfg.dataset, resolve_data_root()).images
    rows = read_label_file(args.labels, subjects=images["subject_id"])
    answered = latest_answers(rows)
    mine = images[images["subject_id"].isin(answered["subject_id"])]
    # the estimate alone: the config's label files would otherwise replace it for labelled subjects
    estimate_only = cfg.annotate.model_copy(update={"skin_tone_labels": []})
    _, per_subject = skin_tone_tables(mine, estimate_only, resolve_cache_dir(cfg.cache.dir), progress=False)
    ita = per_subject.set_index("subject_id").reindex(answered["subject_id"])

    known = ita["skin_tone"].isin(["lighter", "darker"]).to_numpy()
    estimate = answered.loc[known, ["subject_id", "image_id", "labelled_at"]].assign(
        annotator="ita", skin_tone_binary=ita.loc[known, "skin_tone"].to_numpy(), monk="")
    answers = pd.concat([answered[estimate.columns], estimate], ignore_index=True)
    result = agreement(answers, replicates=args.replicates, seed=0)
    kappa = result.statistics.set_index("statistic").loc["cohen_kappa"]

    print(f"label file: {args.labels} ({len(answered)} subjects, annotator {answered['annotator'].iloc[0]})")
    print(f"ITA estimate: {int(known.sum())} of {len(answered)} subjects have one "
          f"({int((ita['skin_tone'] == 'darker').sum())} darker, {int((ita['skin_tone'] == 'lighter').sum())} lighter)")
    print(f"annotator answers: {answered['skin_tone_binary'].value_counts().to_dict()}")
    both = pd.DataFrame({"answered": answered["skin_tone_binary"].to_numpy(), "ita": ita["skin_tone"].to_numpy()})
    print("\nconfusion (rows: annotator, columns: ITA):")
    print(pd.crosstab(both["answered"], both["ita"], margins=True).to_string())
    print(f"\nCohen's kappa (annotator lighter/darker vs ITA, n = {int(kappa['n_subjects'])}): "
          f"{kappa['value']:.3f}  95% bootstrap interval [{kappa['ci_low']:.3f}, {kappa['ci_high']:.3f}]")
    agree = (both["answered"] == both["ita"]).sum()
    print(f"raw agreement: {agree} of {int(kappa['n_subjects'])}")
    monk = pd.to_numeric(answered["monk"], errors="coerce").to_numpy()
    for answer in ("lighter", "darker"):
        sel = (ita["skin_tone"] == answer).to_numpy()
        print(f"answered Monk where ITA says {answer}: {np.sort(monk[sel][~np.isnan(monk[sel])]).astype(int).tolist()}")
    gaps = answer_intervals(rows)
    print(f"\nseconds between consecutive answers (n = {gaps.size}): median {np.median(gaps):.1f}, "
          f"mean {gaps.mean():.1f}, min {gaps.min():.1f}, max {gaps.max():.1f}")


if __name__ == "__main__":
    main()
