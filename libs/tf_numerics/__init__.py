"""Process-wide numerics settings of reproducible TF apps: set BEFORE TF is imported, recorded.

Why each one is pinned (all measured on TF 2.15, CPU):
  * Thread counts: the intra-op thread count partitions reductions, so 1 thread and "all cores"
    train to different weights bitwise. A fixed count (not "however many cores") makes a 2-core
    and a 16-core machine produce the same losses.csv.
  * TF_ENABLE_ONEDNN_OPTS: oneDNN kernels round differently from Eigen's, and TF's default for
    it depends on the CPU model, so it is set explicitly either way. Run to run, each setting is
    deterministic.
  * Op determinism: makes kernels that have a non-deterministic fast path choose the
    deterministic one (and fail loudly where none exists).
  * TF_CPP_MIN_LOG_LEVEL=1: hides TF's C++ INFO chatter; warnings and errors still show.
"""

import dataclasses
import os
import sys


@dataclasses.dataclass(frozen=True)
class Numerics:
    """The settings that change the bits of a run; recorded in run.json."""

    intra_op_threads: int = 2
    inter_op_threads: int = 2
    onednn: bool = True
    deterministic: bool = True


def configure_environment(numerics: Numerics) -> None:
    """Sets the environment variables that TensorFlow reads at import time.

    Raises:
      RuntimeError: TensorFlow is already imported (the settings would silently not apply).
    """
    if "tensorflow" in sys.modules:
        raise RuntimeError("configure_environment() must run before TensorFlow is imported")
    import warnings

    # tensorflow_hub (imported by TF-GAN) warns about pkg_resources on every start; the pin
    # setuptools<81 in 3rdparty/python/requirements.txt is the answer to it.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if numerics.onednn else "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")


def configure_tensorflow(numerics: Numerics) -> None:
    """Applies the in-process settings once TensorFlow is imported (determinism, log level)."""
    import logging
    import warnings

    import tensorflow as tf

    if numerics.deterministic:
        tf.config.experimental.enable_op_determinism()
    # TF's Python logger prints deprecation notices from TF-GAN/Estimator internals at WARNING;
    # the app reports its own progress, so keep only TF's errors.
    tf.get_logger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


def session_config(numerics: Numerics):
    """A tf.compat.v1.ConfigProto with the pinned thread counts, for tf.estimator.RunConfig.

    allow_soft_placement=True as in Estimator's own default config, which this one replaces.
    Grappler's remapper is off: on the GAN's training graph it fails anyway ("remapper failed:
    Mutation::Apply error", logged at ERROR level on every run, its rewrite discarded), so
    turning it off changes no training numbers (checked: identical losses.csv) and removes a
    scary, meaningless error line.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import rewriter_config_pb2

    config = tf.compat.v1.ConfigProto(
        allow_soft_placement=True,
        intra_op_parallelism_threads=numerics.intra_op_threads,
        inter_op_parallelism_threads=numerics.inter_op_threads,
    )
    config.graph_options.rewrite_options.remapping = rewriter_config_pb2.RewriterConfig.OFF
    return config


def numerics_record(numerics: Numerics) -> dict:
    """What run.json records about numerics, including what TF actually saw."""
    # Public API has only the setter in TF 2.15; the getter lives here.
    from tensorflow.python.framework import config as tf_config

    return {
        **dataclasses.asdict(numerics),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "op_determinism_enabled": bool(tf_config.is_op_determinism_enabled()),
    }
