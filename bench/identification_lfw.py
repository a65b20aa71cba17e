"""The identification (1:N) protocol on a dataset, from embeddings already in the cache.

    nice -n 10 python bench/identification_lfw.py configs/lfw-dlib-exhaustive.yaml -o /tmp/id-lfw \\
        --groups gender skin_tone --intersection skin_tone gender --max-probes 10

Until the run wires ``frbench.search.identification`` in, this script does what a run would: it
reads the config (dataset, model pipeline, annotation), loads the dataset, estimates skin tone
(ITA, from its cache), takes one embedding per image from the embedding cache, and calls
``measure_identification``; then it writes the tables and plots and prints the report section
and the wall time of each stage. It refuses to embed: images missing from the cache under the
config's pipeline fingerprint stop it (``--allow-embedding`` to embed them), so that work is
never done twice on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from frbench.annotate.apply import apply_annotations
from frbench.config import load_config
from frbench.datasets import load_dataset
from frbench.datasets.registry import resolve_data_root
from frbench.embed import embed_images
from frbench.embed.cache import EmbeddingCache, content_hash
from frbench.embed.cache import resolve_cache_dir, pipeline_from_config, select
from frbench.search.identification import (
    CompositionParams,
    IdentificationParams,
    measure_identification,
    report_section,
    write_identification,
)
from frbench.tables import validate_image_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--groups", nargs="+", default=None)
    ap.add_argument("--intersection", nargs="+", default=None)
    ap.add_argument("--max-probes", type=int, default=None)
    ap.add_argument("--enrolled-fraction", type=float, default=0.5)
    ap.add_argument("--few-image-subjects", default="distractors")
    ap.add_argument("--candidates", type=int, default=50)
    ap.add_argument("--target-fpir", type=float, nargs="+", default=[1e-1, 1e-2, 3e-3])
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--sweep-repeats", type=int, default=5)
    ap.add_argument("--composition", nargs=2, metavar=("ATTRIBUTE", "GROUP"), default=None)
    ap.add_argument("--kernel", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--allow-embedding", action="store_true")
    args = ap.parse_args(argv)

    t_all = time.perf_counter()
    config = load_config(args.config)
    groups = args.groups if args.groups is not None else list(config.groups)
    intersections = [args.intersection] if args.intersection else [list(c) for c in config.intersections]
    cache_dir = resolve_cache_dir(config.cache.dir)
    pipeline = pipeline_from_config(config)

    t = time.perf_counter()
    dataset = load_dataset(config.dataset, resolve_data_root())
    images, _ = select(config.model_copy(update={"pairs": config.pairs.model_copy(update={"protocol": "exhaustive"})}), dataset)
    print(f"dataset {dataset.name}: {len(images)} images, {images['subject_id'].nunique()} subjects "
          f"({time.perf_counter() - t:.1f} s)")

    t = time.perf_counter()
    hashes = [content_hash(p) for p in images["path"]]
    with EmbeddingCache(cache_dir / "embeddings.sqlite") as cache:
        found = cache.get_many(pipeline.fingerprint(), [h for h in hashes if h is not None])
    missing = sum(1 for h in hashes if h is not None and h not in found)
    print(f"embedding cache: {len(found)} of {len(images)} images under {pipeline.fingerprint()[:12]}, "
          f"{missing} missing ({time.perf_counter() - t:.1f} s)")
    if missing and not args.allow_embedding:
        print("refusing to embed missing images (another job may be embedding them): rerun later, "
              "or pass --allow-embedding")
        return 2

    t = time.perf_counter()
    if config.annotate.skin_tone is not None:
        annotated, _ = apply_annotations(config.annotate, images, cache_dir, workers=1, progress=False,
                                         max_pixels=config.dataset.max_pixels)
        images = images.drop(columns=[c for c in annotated.columns if c in images.columns and c != "image_id"]).merge(
            annotated, on="image_id", how="left", validate="one_to_one")
    attrs = list(dict.fromkeys([*groups, *[a for c in intersections for a in c]]))
    images = validate_image_table(images, attrs)
    print(f"annotation: {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    embeddings, stats = embed_images(images, pipeline, cache_dir=cache_dir, executor="serial", progress=False,
                                     offline=True, max_pixels=config.dataset.max_pixels)
    print(f"embeddings: {stats.summary()}")
    row = pd.Series(range(len(embeddings.image_ids)), index=embeddings.image_ids)
    matrix = embeddings.matrix[row.loc[images["image_id"]].to_numpy()]

    params = IdentificationParams(
        enrolled_fraction=args.enrolled_fraction, few_image_subjects=args.few_image_subjects,
        max_probes_per_subject=args.max_probes, seed=args.seed, candidates=args.candidates,
        target_fpir=tuple(args.target_fpir), kernel=args.kernel, bootstrap=args.bootstrap,
        gallery_size_repeats=args.sweep_repeats,
        composition=CompositionParams(*args.composition, repeats=args.sweep_repeats) if args.composition else None,
    )
    t = time.perf_counter()
    result = measure_identification(images, matrix, embeddings.status, groups, intersections, params)
    measure_s = time.perf_counter() - t
    t = time.perf_counter()
    write_identification(result, args.out)
    (args.out / "identification.md").write_text(report_section(result))
    print(f"measure_identification: {measure_s:.1f} s (search {result.info['search_seconds']:.1f} s, "
          f"sweeps {result.info['sweep_seconds']:.1f} s); writing {time.perf_counter() - t:.1f} s; "
          f"kernel {result.info['kernel']}")
    print(f"split: {result.split.record}")
    print(report_section(result))
    print(f"total wall time {time.perf_counter() - t_all:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
