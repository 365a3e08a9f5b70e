"""Process-wide numerics pins of reproducible TF apps: set BEFORE TF is imported, recorded.

Why each one is pinned (all measured on TF 2.15, CPU):
  * Thread counts: the intra-op thread count partitions reductions, so 1 thread and "all cores"
    train to different weights bitwise. A fixed count (not "however many cores") makes a 2-core
    and a 16-core machine produce the same losses.csv.
  * TF_ENABLE_ONEDNN_OPTS: oneDNN kernels round differently from Eigen's, and TF's default for
    it depends on the CPU model, so it is set explicitly either way. Run to run, each setting is
    deterministic. On by default, but on Linux aarch64 (its bits follow the core count there).
  * Op determinism: makes kernels that have a non-deterministic fast path choose the
    deterministic one (and fail loudly where none exists).
  * The instruction set oneDNN may use (`cpu_isa`, as ONEDNN_MAX_CPU_ISA): oneDNN, and the
    Eigen contraction kernel that calls oneDNN's sgemm even with oneDNN's graph rewrites off,
    dispatch at run time to the best ISA the CPU has, and each ISA rounds differently. Capped
    to AVX2 (the default), every x86-64 machine since 2013-2015 runs the same kernels; a CPU
    without the capped ISA is refused rather than silently training other bits.
  * Every environment variable known to change TF's CPU numerics (`PINNED_ENVIRONMENT`) is
    overwritten with the pinned value, so a value a user exported cannot silently change the
    bits; run.json records what TF saw and what was overridden.
  * The thread pools: TF sizes its process-wide CPU pool when the first op runs, from
    TF_NUM_INTRAOP_THREADS or else the number of schedulable cores, and every later Session
    reuses it whatever its ConfigProto says (measured: `taskset -c 0` vs two cores differed
    from step 1). The pinned counts therefore go into the environment before TF is imported.
  * TF_CPP_MIN_LOG_LEVEL=1: hides TF's C++ INFO chatter; warnings and errors still show.
"""

import dataclasses
import os
import platform
import sys
from typing import Any

from tf_determinism import machine

CPU_ISAS = ("avx2", "avx512_core", "native")
# Variables TF 2.15's CPU numerics read. Each is set from Numerics by pinned_environment().
PINNED_ENVIRONMENT = (
    "ONEDNN_MAX_CPU_ISA",
    "TF_ENABLE_ONEDNN_OPTS",
    "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL",
    "TF_DETERMINISTIC_OPS",
    "OMP_NUM_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "ONEDNN_DEFAULT_FPMATH_MODE",
    "TF_OVERRIDE_GLOBAL_THREADPOOL",
)
_overridden: dict[str, str] = {}


class PinError(RuntimeError):
    """A pin this machine cannot honour (one line, naming what is missing and the flag)."""


_LINUX_AARCH64 = sys.platform == "linux" and platform.machine().lower() in ("aarch64", "arm64")


def _setting(default: object, help_text: str, **bounds: object) -> Any:
    # metadata is read by apps that define a flag per field (repro_app.options).
    metadata: dict[str, object] = {"help": help_text, **bounds}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Numerics:
    """The settings that change the bits of a run; recorded in run.json."""

    intra_op_threads: int = _setting(
        2, "Intra-op threads. Fixed, not per machine: it changes the bits.", lower_bound=1
    )
    inter_op_threads: int = _setting(2, "Inter-op threads. Fixed, not per machine.", lower_bound=1)
    # On Linux aarch64 oneDNN (with the Arm Compute Library) is off by default: emulated, its
    # filter gradient (gemm:ref) trained other bits on one schedulable core than on two, with
    # the pool pinned; Eigen's path gave the same bits (README "x86-64 and aarch64").
    onednn: bool = _setting(
        not _LINUX_AARCH64,
        "Set TF_ENABLE_ONEDNN_OPTS=1 (faster on x86; either way pinned and "
        "recorded). Default off on Linux aarch64, where oneDNN's bits follow the number of "
        "schedulable cores.",
    )
    deterministic: bool = _setting(True, "Enable TF op determinism.")
    cpu_isa: str = _setting(
        "avx2",
        "Highest instruction set oneDNN may use (ONEDNN_MAX_CPU_ISA): avx2 runs the same "
        "kernels on every x86-64 CPU with AVX2 and FMA (README: the CPUs verified to give the "
        "same bits); avx512_core on those with AVX-512; "
        "native lets each CPU use its best (fastest, but the bits follow the CPU).",
        choices=CPU_ISAS,
    )
    numerics: str = _setting(
        "fast",
        "fast: TF's own kernels (x86-64 and aarch64 train other bits); portable: "
        "tf_determinism.portable's ops, the same bits on x86-64 and aarch64, slower (README). "
        "Part of the run.",
        choices=("fast", "portable"),
    )


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")


def pinned_environment(numerics: Numerics) -> dict[str, str]:
    """The value each PINNED_ENVIRONMENT variable gets for these numerics.

    Raises:
      PinError: the CPU lacks the instruction set `cpu_isa` pins.
    """
    if numerics.cpu_isa != "native" and _is_x86():
        supported = machine.supported_isas()
        if numerics.cpu_isa not in supported:
            have = supported[-1] if supported else "none known"
            raise PinError(
                f"this CPU lacks {numerics.cpu_isa.upper()} (its best oneDNN level is {have}), "
                f"so --cpu_isa={numerics.cpu_isa} cannot be honoured; use --cpu_isa=native (or "
                "a level it has) and expect other bits than the pinned runs"
            )
    threads = str(numerics.intra_op_threads)
    return {
        # Off x86 (aarch64: ACL) the pin has no meaning: oneDNN's own choice, recorded.
        "ONEDNN_MAX_CPU_ISA": "DEFAULT"
        if numerics.cpu_isa == "native" or not _is_x86()
        else numerics.cpu_isa.upper(),
        # Pinned on every platform: TF 2.15's default on aarch64 follows the CPU model (on for
        # Neoverse-V1 only), so the same flags would run other kernels on other ARM machines.
        "TF_ENABLE_ONEDNN_OPTS": "1" if numerics.onednn else "0",
        "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "1",
        "TF_DETERMINISTIC_OPS": "1" if numerics.deterministic else "0",
        # No effect on this wheel (oneDNN runs on TF's own pool, no OpenMP), pinned for builds
        # where it has one.
        "OMP_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": str(numerics.inter_op_threads),
        "ONEDNN_DEFAULT_FPMATH_MODE": "STRICT",  # no implicit bf16/tf32 math
        "TF_OVERRIDE_GLOBAL_THREADPOOL": "0",
    }


def configure_environment(numerics: Numerics) -> None:
    """Sets the environment variables that TensorFlow reads (at import or its first op),
    overwriting whatever was there (recorded by numerics_record).

    Raises:
      RuntimeError: TensorFlow is already imported (the settings would silently not apply).
      PinError: the CPU cannot honour `cpu_isa`.
    """
    if "tensorflow" in sys.modules:
        raise RuntimeError("configure_environment() must run before TensorFlow is imported")
    import warnings

    for name, value in pinned_environment(numerics).items():
        before = os.environ.get(name)
        if before is not None and before != value:
            _overridden[name] = before
        os.environ[name] = value

    # tensorflow_hub (imported by TF-GAN) warns about pkg_resources on every start; the pin
    # setuptools<81 in 3rdparty/python/requirements.txt is the answer to it.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")


def configure_tensorflow(numerics: Numerics) -> None:
    """Applies the in-process settings once TensorFlow is imported (determinism, log level)."""
    import logging
    import warnings

    import tensorflow as tf

    # The eager context's pool sizes too (the environment pinned them already; once an op has
    # run, the context refuses changes, and then the environment's values are the ones in use).
    try:
        tf.config.threading.set_intra_op_parallelism_threads(numerics.intra_op_threads)
        tf.config.threading.set_inter_op_parallelism_threads(numerics.inter_op_threads)
    except RuntimeError:
        pass
    if numerics.deterministic:
        tf.config.experimental.enable_op_determinism()
    from tf_determinism import ops

    ops.set_mode(numerics.numerics)
    # TF's Python logger prints deprecation notices from TF-GAN/Estimator internals at WARNING;
    # the app reports its own progress, so keep only TF's errors.
    tf.get_logger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


# The Grappler rewriters (RewriterConfig fields) that change or break the bits, all set to OFF
# by deterministic_grappler, the one place that sets them.
_GRAPPLER_OFF = ("arithmetic_optimization", "remapping")


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
    for rewriter in _GRAPPLER_OFF:
        setattr(rewrites, rewriter, rewriter_config_pb2.RewriterConfig.OFF)
    return config


def _has_deterministic_grappler(config: Any) -> bool:
    from tensorflow.core.protobuf import rewriter_config_pb2

    rewrites = config.graph_options.rewrite_options
    return all(
        getattr(rewrites, rewriter) == rewriter_config_pb2.RewriterConfig.OFF
        for rewriter in _GRAPPLER_OFF
    )


def session_config(numerics: Numerics) -> Any:
    """A tf.compat.v1.ConfigProto with the pinned thread counts and deterministic Grappler:
    the session config of every session and Estimator the apps make.

    allow_soft_placement=True as in Estimator's own default config, which this one replaces.
    """
    import tensorflow as tf

    return deterministic_grappler(
        tf.compat.v1.ConfigProto(
            allow_soft_placement=True,
            intra_op_parallelism_threads=numerics.intra_op_threads,
            inter_op_parallelism_threads=numerics.inter_op_threads,
        )
    )


def deterministic_run_config(run_config: Any) -> Any:
    """`run_config` (a tf.estimator.RunConfig) whose session config has deterministic Grappler.

    A session config that has it already (`session_config`'s, which the apps pass) is kept as
    it is, so the settings are applied once; another one is copied (the caller's is not
    changed) and `deterministic_grappler` applied to the copy; without one, to Estimator's
    default (soft placement, one meta-optimizer iteration).
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import rewriter_config_pb2

    given = run_config.session_config
    if given is not None and _has_deterministic_grappler(given):
        return run_config
    config = tf.compat.v1.ConfigProto()
    if given is not None:
        config.CopyFrom(given)
    else:
        config.allow_soft_placement = True
        config.graph_options.rewrite_options.meta_optimizer_iterations = (
            rewriter_config_pb2.RewriterConfig.ONE
        )
    return run_config.replace(session_config=deterministic_grappler(config))


def numerics_record(numerics: Numerics) -> dict:
    """What run.json records about numerics, including what TF actually saw."""
    from tf_determinism import internals

    return {
        **dataclasses.asdict(numerics),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "op_determinism_enabled": internals.is_op_determinism_enabled(),
        "environment": {name: os.environ.get(name) for name in PINNED_ENVIRONMENT},
        "overridden_environment": dict(_overridden),
        "cpu_isa_pin": ("no meaning on this platform" if not _is_x86() else numerics.cpu_isa),
    }
