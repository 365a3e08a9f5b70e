"""The text LM experiment: real text in seeded records, the Transformer, its loss logged each
step, then metrics.json (validation bits per character, the unigram baseline), samples.txt."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from typing import Any

import numpy as np
import tensorflow as tf

import repro_experiment
import seeded_input
from repro_app import RunError
from repro_app.data import PreparedData
from text_lm import model

FORTUNES = "/usr/share/games/fortunes"
HELD_OUT = 10  # every 10th window is validation


@dataclasses.dataclass(frozen=True)
class PreparedText(PreparedData):
    """+ the validation windows, and the unigram baseline: each byte's code length in bits
    (-log2 of its add-one smoothed train frequency)."""

    validation: np.ndarray = dataclasses.field(kw_only=True)
    unigram_code: np.ndarray = dataclasses.field(kw_only=True)


def read_text(text_dir: str | None) -> bytes:
    """The directory's files in name order (not fortune's indexes and links), '%' lines blank."""
    directory = text_dir or FORTUNES
    if not os.path.isdir(directory):
        raise RunError(
            f"--text_dir={text_dir} is not a directory"
            if text_dir
            else f"{FORTUNES} is missing: install Debian's fortunes with `apt-get install "
            "fortunes`, or pass --text_dir"
        )
    paths = [os.path.join(directory, n) for n in sorted(os.listdir(directory))]
    text = b"".join(
        open(p, "rb").read()
        for p in paths  # noqa: SIM115 (whole small files)
        if os.path.isfile(p) and not os.path.islink(p) and not p.endswith(".dat")
    )
    return text.replace(b"\n%\n", b"\n\n")


def prepare(opts: Any, log: Any) -> PreparedText:
    """Windows of seq_len + 1 bytes: every HELD_OUTth held out, the others in records."""
    data, width = opts.data, opts.data.seq_len + 1
    text = read_text(data.text_dir)
    windows = np.frombuffer(text, np.uint8)[: len(text) // width * width].reshape(-1, width)
    held_out = np.arange(len(windows)) % HELD_OUT == HELD_OUT - 1
    if not held_out.any():
        raise RunError(
            f"{data.text_dir or FORTUNES}: {len(text)} bytes make fewer than "
            f"{HELD_OUT} windows of {width} bytes"
        )
    digest = hashlib.sha256(text).hexdigest()
    source = f"{'text' if data.text_dir else 'fortunes'}-{digest[:12]}-seq{data.seq_len}"
    log(f"preparing {len(windows)} windows of {source} under {data.data_dir}")
    train, record_dir = windows[~held_out], data.record_dir(source)
    try:
        manifest = seeded_input.write_records(
            "train",
            record_dir=record_dir,
            num_shards=10,
            features={"window": train},
            compression=data.compression,
        )
    except (ValueError, OSError) as e:
        raise RunError(str(e)) from None
    counts = np.bincount(train.ravel(), minlength=model.VOCAB) + 1.0  # add-one smoothed
    return PreparedText(
        record_dir,
        seeded_input.DEFAULT_RECORD_PATTERN,
        manifest,
        f"{source}:{digest}",
        validation=windows[held_out],
        unigram_code=-np.log2(counts / counts.sum()),
    )


def batch_map(ctx: repro_experiment.Context):
    """Batch k -> ({"tokens": the first seq_len bytes, "batch_index": k}, the next bytes)."""

    def split(batch: dict[str, tf.Tensor], index: tf.Tensor) -> Any:
        windows = tf.cast(tf.reshape(batch["window"], [ctx.rows, -1]), tf.int32)
        return {"tokens": windows[:, :-1], "batch_index": index}, windows[:, 1:]

    return split


def results(ctx: repro_experiment.Context, trained: Any, log: Any) -> dict[str, Any]:
    """metrics.json (the first --validation_windows held-out windows' loss, or all of them) and
    samples.txt (the model's continuations of the first 4 held-out windows)."""
    held_out = ctx.prepared.validation.astype(np.int32)
    scored = held_out[: ctx.opts.data.validation_windows or len(held_out)]
    features = [
        {"tokens": scored[:, :-1], "targets": scored[:, 1:]},
        {"context": held_out[:4, 1:]},
    ]
    losses, texts = (
        np.concatenate(
            [
                p[key]
                for p in trained.predict(
                    lambda f=f: tf.data.Dataset.from_tensor_slices(f).batch(256),
                    yield_single_examples=False,
                )
            ]
        )
        for key, f in zip(("loss", "text"), features, strict=True)
    )
    loss = float(np.mean(losses, dtype=np.float64))  # nats per byte
    bits = loss / math.log(2)
    unigram = float(ctx.prepared.unigram_code[scored[:, 1:]].mean())
    log(f"validation: {bits:.3f} bits per character (unigram {unigram:.3f})")
    text = lambda tokens: bytes(tokens.astype(np.uint8)).decode(errors="replace")  # noqa: E731
    return {
        "metrics.json": {
            "validation_loss": loss,
            "validation_bits_per_character": bits,
            "validation_windows": len(scored),
            "unigram_bits_per_character": unigram,
            "global_step": int(trained.get_variable_value("global_step")),
        },
        "samples.txt": "".join(
            f"=== {i}: validation window {i}, then the model's bytes after "
            f">>>\n{text(held_out[i, 1:])}>>>{text(t)}\n\n"
            for i, t in enumerate(texts)
        ),
    }


EXPERIMENT = repro_experiment.Experiment(
    name="text_lm",
    seed_names=("init", "dropout", "samples"),
    prepare=prepare,
    batch_map=batch_map,
    results=results,
    estimator=lambda ctx, run_config: tf.estimator.Estimator(
        model.make_model_fn(ctx.opts.model, ctx.seeds, ctx.share), config=run_config
    ),
    scalars=lambda ctx: {"loss": f"{model.LOSS_NAME}:0"},
)
