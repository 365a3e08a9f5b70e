"""Bitwise comparison of two run directories' checkpoints, tensor by tensor.

Every saved tensor is compared (weights, optimizer slots, counters), as raw element bytes, so a
one-ulp change in one element of one tensor is found. TensorFlow is imported only when
checkpoints are listed or read: `compare` rejects a bad run.json or losses.csv first, without it.
"""

import dataclasses
import hashlib
import os
from collections.abc import Mapping

import numpy as np


@dataclasses.dataclass(frozen=True)
class TensorDiff:
    """One tensor that differs between the two checkpoints.

    Attributes:
      name: the checkpoint key, e.g. "Generator/fc1/kernel".
      dtype_a, dtype_b: numpy dtype names.
      shape_a, shape_b: the shapes.
      elements_differing: elements whose bytes differ (None when shapes or dtypes differ).
      elements: elements in the tensor (A's).
      max_abs_diff: max |A - B| over elements, in float64 (0.0 when only bits differ, e.g.
        0.0 vs -0.0; NaN when a NaN is involved; None when not numeric or not comparable).
    """

    name: str
    dtype_a: str
    dtype_b: str
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]
    elements_differing: int | None
    elements: int
    max_abs_diff: float | None


@dataclasses.dataclass(frozen=True)
class CheckpointComparison:
    """Two checkpoints compared.

    Attributes:
      path_a, path_b: the checkpoint prefixes (e.g. ".../model.ckpt-3").
      step_a, step_b: their `global_step` values (None if not saved).
      tensors_compared: tensors present in both.
      tensors_equal: of those, tensors with equal dtype, shape and bytes.
      differing: the others, sorted by name.
      only_a, only_b: tensor names present in one checkpoint only.
    """

    path_a: str
    path_b: str
    step_a: int | None
    step_b: int | None
    tensors_compared: int
    tensors_equal: int
    differing: list[TensorDiff]
    only_a: list[str]
    only_b: list[str]

    @property
    def identical(self) -> bool:
        return not self.differing and not self.only_a and not self.only_b


def latest_checkpoint(model_dir: str) -> str:
    """The prefix of model_dir's latest checkpoint (from its `checkpoint` file).

    Raises:
      FileNotFoundError: model_dir has no checkpoint, or the one named is missing.
    """
    import tensorflow as tf

    # get_checkpoint_state, not latest_checkpoint: the latter says None (and logs an error) both
    # when there is no checkpoint and when the one named is gone; the user should know which.
    state = tf.train.get_checkpoint_state(model_dir)
    if state is None or not state.model_checkpoint_path:
        raise FileNotFoundError(f"{model_dir}: no checkpoint (no 'checkpoint' file naming one)")
    prefix = state.model_checkpoint_path  # made absolute by get_checkpoint_state
    if not os.path.isfile(prefix + ".index"):
        raise FileNotFoundError(f"{prefix}.index: checkpoint named in {model_dir} is missing")
    return prefix


def kept_checkpoints(model_dir: str) -> dict[int, str]:
    """{global step: prefix} of every checkpoint model_dir's `checkpoint` file lists whose
    index exists (older ones `keep_checkpoint_max` deleted are gone).

    Raises:
      FileNotFoundError: as latest_checkpoint (no checkpoint, or the latest one is missing).
    """
    import tensorflow as tf

    latest = latest_checkpoint(model_dir)
    state = tf.train.get_checkpoint_state(model_dir)
    listed = [*state.all_model_checkpoint_paths, latest] if state else [latest]
    return {step_of(prefix): prefix for prefix in listed if os.path.isfile(prefix + ".index")}


def step_of(prefix: str) -> int:
    """N of a ".../model.ckpt-N" prefix (-1 for another name)."""
    tail = prefix.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _differing_elements(a: np.ndarray, b: np.ndarray) -> int:
    if a.dtype == object:  # strings: no fixed-size bytes to compare
        return int(np.count_nonzero(a != b))
    # Raw bytes per element: bitwise for every fixed-size dtype (float NaN payloads and -0.0 too).
    item = a.dtype.itemsize
    raw_a = np.frombuffer(np.ascontiguousarray(a).tobytes(), np.uint8).reshape(a.size, item)
    raw_b = np.frombuffer(np.ascontiguousarray(b).tobytes(), np.uint8).reshape(b.size, item)
    return int(np.count_nonzero(np.any(raw_a != raw_b, axis=1)))


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.dtype.kind in "biuf":
        return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))
    if a.dtype.kind == "c":
        return float(np.max(np.abs(a.astype(np.complex128) - b.astype(np.complex128)), initial=0.0))
    return None  # strings, and extension types such as bfloat16 are not summarized


def compare_tensors(name: str, a: np.ndarray, b: np.ndarray) -> TensorDiff | None:
    """None when a and b have the same dtype, shape and element bytes; else what differs."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return TensorDiff(name, str(a.dtype), str(b.dtype), a.shape, b.shape, None, a.size, None)
    differing = _differing_elements(a, b)
    if differing == 0:
        return None
    return TensorDiff(
        name, str(a.dtype), str(b.dtype), a.shape, b.shape, differing, a.size, _max_abs_diff(a, b)
    )


def same_tensors(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    """True when two {name: array} maps have the same names and, per name, the same dtype,
    shape and element bytes (what compare_checkpoints calls bitwise equal)."""
    return a.keys() == b.keys() and all(compare_tensors(k, a[k], b[k]) is None for k in a)


# A torn data file fails as IndexError ("Read less bytes than requested": pybind's
# out_of_range), a damaged one as a TF OpError (DataLossError: a checksum).
_UNREADABLE = (IndexError, OSError, ValueError)


def open_checkpoint(prefix: str):
    """tf.train.load_checkpoint(prefix).

    Raises:
      ValueError: it cannot be opened (one line naming it).
    """
    import tensorflow as tf

    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, *_UNREADABLE) as e:
        raise ValueError(f"{prefix}: unreadable checkpoint ({_first_line(e)})") from None


def read_tensor(reader, prefix: str, name: str) -> np.ndarray:
    """reader.get_tensor(name).

    Raises:
      ValueError: a torn or damaged checkpoint (one line naming it and the tensor).
    """
    import tensorflow as tf

    try:
        return np.asarray(reader.get_tensor(name))
    except (tf.errors.OpError, *_UNREADABLE) as e:
        raise ValueError(
            f"{prefix}: unreadable checkpoint, tensor {name!r} "
            f"({type(e).__name__}: {_first_line(e)})"
        ) from None


def tensor_digest(value: np.ndarray) -> str:
    """sha256 of a tensor's dtype, shape and bytes."""
    digest = hashlib.sha256(f"{value.dtype.str}{list(value.shape)}".encode())
    digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def tensor_digests(prefix: str) -> dict[str, str]:
    """{name: tensor_digest} of every tensor of the checkpoint at `prefix`.

    Raises:
      ValueError: a torn or damaged checkpoint (one line naming it and the tensor).
    """
    reader = open_checkpoint(prefix)
    return {
        name: tensor_digest(read_tensor(reader, prefix, name))
        for name in sorted(reader.get_variable_to_shape_map())
    }


def compare_checkpoints(path_a: str, path_b: str) -> CheckpointComparison:
    """Compares every tensor of two checkpoints (one tensor pair in memory at a time).

    Args:
      path_a, path_b: checkpoint prefixes, e.g. from `latest_checkpoint`.

    Raises:
      ValueError: a checkpoint cannot be read (corrupt or truncated; the message names it).
    """

    reader_a, reader_b = open_checkpoint(path_a), open_checkpoint(path_b)
    names_a = set(reader_a.get_variable_to_shape_map())
    names_b = set(reader_b.get_variable_to_shape_map())
    common = sorted(names_a & names_b)
    differing = []
    for name in common:
        a, b = read_tensor(reader_a, path_a, name), read_tensor(reader_b, path_b, name)
        diff = compare_tensors(name, a, b)
        if diff is not None:
            differing.append(diff)
    return CheckpointComparison(
        path_a=path_a,
        path_b=path_b,
        step_a=_global_step(reader_a, path_a, names_a),
        step_b=_global_step(reader_b, path_b, names_b),
        tensors_compared=len(common),
        tensors_equal=len(common) - len(differing),
        differing=differing,
        only_a=sorted(names_a - names_b),
        only_b=sorted(names_b - names_a),
    )


def _global_step(reader, prefix: str, names: set[str]) -> int | None:
    return int(read_tensor(reader, prefix, "global_step")) if "global_step" in names else None


def _first_line(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
