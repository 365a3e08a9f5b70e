"""The text LM experiment: real text cut into seeded records, the Transformer's Estimator,
its train loss logged each step, then metrics.json (validation loss, bits per character and
the unigram baseline) and samples.txt (imports TensorFlow)."""

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
    """The training windows' records, plus the validation windows (uint8 [N, seq_len + 1])
    and the unigram baseline on them (bits per byte, train frequencies, add-one smoothed)."""

    validation: np.ndarray = dataclasses.field(kw_only=True)
    unigram_bits: float = dataclasses.field(kw_only=True)


def read_text(text_dir: str | None) -> bytes:
    """Every regular file of the directory, in name order (fortune files: their '%'
    separator lines become blank lines; the index files `*.dat` are skipped)."""
    directory = text_dir or FORTUNES
    if not os.path.isdir(directory):
        raise RunError(f"--text_dir={text_dir} is not a directory" if text_dir else
                       f"{FORTUNES} is missing: install Debian's fortunes with `apt-get install "
                       "fortunes`, or pass --text_dir")
    paths = [os.path.join(directory, n) for n in sorted(os.listdir(directory))]
    text = b"".join(open(p, "rb").read() for p in paths  # noqa: SIM115 (whole small files)
                    if os.path.isfile(p) and not os.path.islink(p) and not p.endswith(".dat"))
    return text.replace(b"\n%\n", b"\n\n")


def prepare(opts: Any, log: Any) -> PreparedText:
    """The text in windows of seq_len + 1 bytes: every HELD_OUTth one held out, the others
    written as seeded_input records (the run's stream)."""
    data = opts.data
    text = read_text(data.text_dir)
    windows = np.frombuffer(text, np.uint8)[:len(text) // (data.seq_len + 1) * (data.seq_len + 1)]
    windows = windows.reshape(-1, data.seq_len + 1)
    held_out = np.arange(len(windows)) % HELD_OUT == HELD_OUT - 1
    if not held_out.any():
        raise RunError(f"{data.text_dir or FORTUNES}: {len(text)} bytes make fewer than "
                       f"{HELD_OUT} windows of {data.seq_len + 1} bytes")
    digest = hashlib.sha256(text).hexdigest()
    source = f"{'text' if data.text_dir else 'fortunes'}-{digest[:12]}-seq{data.seq_len}"
    log(f"preparing {len(windows)} windows of {source} under {data.data_dir}")
    try:
        manifest = seeded_input.write_records(
            "train", record_dir=data.record_dir(source), features={"window": windows[~held_out]},
            num_shards=10, compression=data.compression)
    except (ValueError, OSError) as e:
        raise RunError(str(e)) from None
    counts = np.bincount(windows[~held_out].ravel(), minlength=model.VOCAB) + 1.0
    unigram = -np.log2(counts / counts.sum())[windows[held_out][:, 1:]].mean()
    return PreparedText(record_dir=data.record_dir(source),
                        record_pattern=seeded_input.DEFAULT_RECORD_PATTERN, manifest=manifest,
                        identity=f"{source}:{digest}", validation=windows[held_out],
                        unigram_bits=float(unigram))


def batch_map(ctx: repro_experiment.Context):
    """Batch k -> ({"tokens": the first seq_len bytes, "batch_index": k}, the next bytes)."""

    def split(batch: dict[str, tf.Tensor], index: tf.Tensor) -> Any:
        windows = tf.cast(tf.reshape(batch["window"], [ctx.rows, -1]), tf.int32)
        return {"tokens": windows[:, :-1], "batch_index": index}, windows[:, 1:]

    return split


def results(ctx: repro_experiment.Context, trained: Any, log: Any) -> dict[str, Any]:
    """metrics.json (validation loss and bits per character) and samples.txt (continuations
    of the first validation windows, drawn from the samples sub-seed)."""
    held_out = ctx.prepared.validation.astype(np.int32)
    losses = np.concatenate([p["loss"] for p in trained.predict(
        lambda: tf.data.Dataset.from_tensor_slices(
            {"tokens": held_out[:, :-1], "targets": held_out[:, 1:]}).batch(256),
        yield_single_examples=False)])
    contexts = held_out[:4, 1:]
    texts = next(trained.predict(lambda: tf.data.Dataset.from_tensors({"context": contexts}),
                                 yield_single_examples=False))["text"]
    loss = float(np.mean(losses, dtype=np.float64))
    metrics = {"validation_loss": loss, "validation_bits_per_character": loss / math.log(2),
               "unigram_bits_per_character": ctx.prepared.unigram_bits,
               "validation_windows": len(held_out), "samples_seed": ctx.seeds.samples,
               "global_step": int(trained.get_variable_value("global_step"))}
    log(f"validation: {metrics['validation_bits_per_character']:.3f} bits per character "
        f"(unigram baseline {ctx.prepared.unigram_bits:.3f})")
    samples = "".join(f"=== {i}: validation window {i}, then the model's {model.SAMPLE_STEPS} "
                      f"bytes after >>>\n{bytes(c.astype(np.uint8)).decode(errors='replace')}>>>"
                      f"{bytes(t.astype(np.uint8)).decode(errors='replace')}\n\n"
                      for i, (c, t) in enumerate(zip(contexts, texts, strict=True)))
    return {"metrics.json": metrics, "samples.txt": samples}


EXPERIMENT = repro_experiment.Experiment(
    name="text_lm",
    seed_names=("init", "dropout", "samples"),
    prepare=prepare,
    batch_map=batch_map,
    estimator=lambda ctx, run_config: tf.estimator.Estimator(
        model.make_model_fn(ctx.opts.model, ctx.seeds, ctx.share), config=run_config),
    scalars=lambda ctx: {"loss": f"{model.LOSS_NAME}:0"},
    results=results,
)
