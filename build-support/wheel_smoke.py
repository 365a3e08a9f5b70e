"""Smoke test of the installed library wheels, run by check_wheels.sh in a fresh venv.

Run it from a directory outside the repository with `python -I` (no PYTHONPATH, no script
directory on sys.path), so `import seeded_input` (and the tf_determinism it imports) can only
find the installed wheels; this is checked too. It writes a few records with
`seeded_input.write_records`, reads a seeded stream twice through `seeded_input.input_fn` (its
settings in a `seeded_input.StreamOptions`) and requires the two to be bitwise equal, every
batch to be records that were written, and another seed to give another stream. Exits 1 on any
failure.
"""

import os
import sys
import sysconfig
import tempfile

import numpy as np

import seeded_input

_N, _BATCH, _BATCHES = 100, 8, 25  # 25 batches of 8: two epochs of 100 records.


def _fail(message: str) -> None:
    print(f"wheel_smoke: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def _stream(record_dir: str, seed: int) -> list[dict[str, np.ndarray]]:
    options = seeded_input.StreamOptions(
        split="train",
        record_dir=record_dir,
        batch_size=_BATCH,
        buffer_size=32,
        num_parallel=2,
        compression="NONE",
        random_seed=seed,
    )
    make = seeded_input.input_fn(options, parse_fn=None)
    return [
        {name: value.numpy() for name, value in batch.items()} for batch in make().take(_BATCHES)
    ]


def _same(a: list[dict[str, np.ndarray]], b: list[dict[str, np.ndarray]]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys()
        and all(
            x[k].dtype == y[k].dtype
            and x[k].shape == y[k].shape
            and x[k].tobytes() == y[k].tobytes()
            for k in x
        )
        for x, y in zip(a, b, strict=True)
    )


def main() -> None:
    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    # seeded_input imports tf_determinism: both must be the installed wheels.
    for name in ("seeded_input", "tf_determinism"):
        where = os.path.realpath(sys.modules[name].__file__ or "?")
        if not where.startswith(site + os.sep):
            _fail(f"{name} imported from {where}, not from this venv's {site}")
        print(f"wheel_smoke: {name} from {where}")

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (_N, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, _N).astype(np.int64)
    with tempfile.TemporaryDirectory() as record_dir:
        manifest = seeded_input.write_records(
            "train",
            record_dir=record_dir,
            features={"image": images, "label": labels},
            num_shards=4,
        )
        if manifest["total_count"] != _N:
            _fail(f"manifest total_count {manifest['total_count']}, wrote {_N}")
        first, second, other = (_stream(record_dir, seed) for seed in (123, 123, 124))

    if len(first) != _BATCHES:
        _fail(f"{len(first)} batches, expected {_BATCHES}")
    written = {image.tobytes(): label for image, label in zip(images, labels, strict=True)}
    for index, batch in enumerate(first):
        if batch["image"].shape != (_BATCH, 28, 28) or batch["image"].dtype != np.uint8:
            _fail(f"batch {index}: image {batch['image'].dtype} {batch['image'].shape}")
        for image, label in zip(batch["image"], batch["label"], strict=True):
            if written.get(image.tobytes()) != label:
                _fail(f"batch {index} holds an example that was not written")
    if not _same(first, second):
        _fail("the same seed gave two different streams")
    if _same(first, other):
        _fail("seeds 123 and 124 gave the same stream")
    print(
        f"wheel_smoke: OK: {_BATCHES} batches of {_BATCH}, seed 123 twice bitwise equal, "
        f"seed 124 differs"
    )


if __name__ == "__main__":
    main()
