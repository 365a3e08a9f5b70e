"""Fingerprints of dataset streams, to show two pipelines yield the same bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf


def _structure(element: Any) -> str:
    """Canonical text of a nested structure, keys sorted like tf.nest.flatten sorts them."""
    if isinstance(element, Mapping):
        items = ",".join(f"{key!r}:{_structure(element[key])}" for key in sorted(element))
        return "{" + items + "}"
    if isinstance(element, list | tuple):
        return type(element).__name__ + "(" + ",".join(_structure(e) for e in element) + ")"
    return "T"


def _update(digest: Any, value: np.ndarray) -> None:
    """Feeds one tensor's dtype, shape and bytes (length-prefixed) into the digest."""
    header = f"{value.dtype.str}|{value.shape}|".encode()
    digest.update(len(header).to_bytes(8, "little") + header)
    if value.dtype == object:  # tf.string tensors arrive as object arrays of bytes
        for item in value.reshape(-1):
            digest.update(len(item).to_bytes(8, "little") + item)
    else:
        data = np.ascontiguousarray(value).tobytes()
        digest.update(len(data).to_bytes(8, "little") + data)


def digest_batches(dataset: tf.data.Dataset, n: int) -> str:
    """Hex sha256 over the first ``n`` elements of ``dataset`` (eager mode).

    Covers, per element and in order, the (possibly nested) structure and every tensor's
    dtype, shape and raw bytes, so streams that differ in any bit, in element order or in
    structure get different digests.

    Args:
        dataset: a dataset of (nested structures of) dense tensors.
        n: number of leading elements to digest, >= 1.

    Returns:
        64 lowercase hex characters.

    Raises:
        ValueError: n < 1, or the dataset has fewer than n elements.
        RuntimeError: when called in graph mode.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not tf.executing_eagerly():
        raise RuntimeError("digest_batches runs eagerly; call it outside tf.function/tf.Graph")
    digest = hashlib.sha256()
    count = 0
    for element in dataset.take(n):
        header = _structure(element).encode()
        digest.update(len(header).to_bytes(8, "little") + header)
        for tensor in tf.nest.flatten(element):
            _update(digest, np.asarray(tensor.numpy()))
        count += 1
    if count < n:
        raise ValueError(f"dataset has only {count} elements, fewer than n={n}")
    return digest.hexdigest()
