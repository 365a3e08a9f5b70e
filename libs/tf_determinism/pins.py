"""Process-wide numerics pins of reproducible TF apps: set BEFORE TF is imported, recorded.

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
from typing import Any


def _setting(default: object, help_text: str, **bounds: int) -> Any:
    # metadata is read by apps that define a flag per field (repro_app.options).
    metadata: dict[str, object] = {"help": help_text, **bounds}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Numerics:
    """The settings that change the bits of a run; recorded in run.json."""

    intra_op_threads: int = _setting(
        2, "Intra-op threads. Fixed, not per machine: it changes the bits.", lower_bound=1)
    inter_op_threads: int = _setting(2, "Inter-op threads. Fixed, not per machine.",
                                     lower_bound=1)
    onednn: bool = _setting(
        True, "Set TF_ENABLE_ONEDNN_OPTS=1 (faster here; either way pinned and recorded).")
    deterministic: bool = _setting(True, "Enable TF op determinism.")


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

    # Before any op runs: the first op creates TF's process-wide CPU thread pools, which every
    # later Session reuses whatever its ConfigProto says.
    tf.config.threading.set_intra_op_parallelism_threads(numerics.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(numerics.inter_op_threads)
    if numerics.deterministic:
        tf.config.experimental.enable_op_determinism()
    # TF's Python logger prints deprecation notices from TF-GAN/Estimator internals at WARNING;
    # the app reports its own progress, so keep only TF's errors.
    tf.get_logger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


def deterministic_grappler(config: Any) -> Any:
    """Turns off the Grappler rewrites that change or break the bits, in place; returns config.

    Arithmetic optimizer: merges 2-input adds into AddN, whose CPU kernel sums in a
    buffer-reuse-dependent order (see optimizers.py). Remapper: on the GAN's training graph it
    fails anyway ("remapper failed: Mutation::Apply error", logged at ERROR level on every run,
    its rewrite discarded), so turning it off changes no training numbers (checked: identical
    losses.csv) and removes a scary, meaningless error line.
    """
    from tensorflow.core.protobuf import rewriter_config_pb2

    rewrites = config.graph_options.rewrite_options
    rewrites.arithmetic_optimization = rewriter_config_pb2.RewriterConfig.OFF
    rewrites.remapping = rewriter_config_pb2.RewriterConfig.OFF
    return config


def session_config(numerics: Numerics) -> Any:
    """A tf.compat.v1.ConfigProto with the pinned thread counts and deterministic Grappler.

    allow_soft_placement=True as in Estimator's own default config, which this one replaces.
    """
    import tensorflow as tf

    return deterministic_grappler(tf.compat.v1.ConfigProto(
        allow_soft_placement=True,
        intra_op_parallelism_threads=numerics.intra_op_threads,
        inter_op_parallelism_threads=numerics.inter_op_threads,
    ))


def deterministic_run_config(run_config: Any) -> Any:
    """`run_config` (a tf.estimator.RunConfig) with `deterministic_grappler` applied to its
    session config; without one, starting from Estimator's default (soft placement, one
    meta-optimizer iteration)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import rewriter_config_pb2

    config = tf.compat.v1.ConfigProto()
    if run_config.session_config is not None:
        config.CopyFrom(run_config.session_config)
    else:
        config.allow_soft_placement = True
        config.graph_options.rewrite_options.meta_optimizer_iterations = (
            rewriter_config_pb2.RewriterConfig.ONE)
    return run_config.replace(session_config=deterministic_grappler(config))


def numerics_record(numerics: Numerics) -> dict:
    """What run.json records about numerics, including what TF actually saw."""
    # Public API has only the setter in TF 2.15; the getter lives here.
    from tensorflow.python.framework import config as tf_config

    return {
        **dataclasses.asdict(numerics),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "op_determinism_enabled": bool(tf_config.is_op_determinism_enabled()),
    }
