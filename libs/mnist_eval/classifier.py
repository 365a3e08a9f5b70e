"""Loading the MNIST classifier SavedModel that ``apps/mnist_classifier`` exports.

The SavedModel contract (the exporter in apps/mnist_classifier uses these constants): tag
"serve", signature "serving_default", input ``INPUT_KEY`` = images float32 [N, 28, 28, 1] in
[-1, 1] (``to_classifier_input`` of uint8 pixels; the GAN's generator output range), outputs
``LOGITS_KEY`` float32 [N, 10] and ``CLASSES_KEY`` int64 [N].

The model runs in its own graph and session, with the thread counts of a
``tf_determinism.Numerics``: eager execution would use however many cores the machine has, and
the thread count partitions the convolutions' reductions, i.e. changes the logits' bits.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import tensorflow as tf

import tf_determinism
from tf_determinism import graph_audit

INPUT_KEY = "images"
LOGITS_KEY = "logits"
CLASSES_KEY = "classes"
_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
# Images per session.run. The last batch is padded to this size, so every image is classified
# in a batch of the same shape whatever N is (kernels may pick algorithms by shape).
_BATCH_SIZE = 1000


class ClassifierNotFoundError(FileNotFoundError):
    """No classifier SavedModel where one was expected; the message says how to train one."""


def to_classifier_input(images: np.ndarray) -> np.ndarray:
    """Real MNIST pixels -> classifier input: (pixels - 128) / 128, as the GAN's real data.

    Args:
      images: uint8 [N, 28, 28] or [N, 28, 28, 1] in 0..255.

    Returns:
      float32 [N, 28, 28, 1] in [-1, 1) (exact: every value is k/128).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:3] != (28, 28) or images.ndim not in (3, 4):
        raise ValueError(
            f"to_classifier_input: expected uint8 [N, 28, 28(, 1)], got "
            f"{images.dtype} {list(images.shape)}"
        )
    return ((images.astype(np.float32) - 128.0) / 128.0).reshape(-1, 28, 28, 1)


def resolve_export_dir(path: str) -> str:
    """The SavedModel directory for ``path``: itself, or ``path/export`` (a classifier run dir).

    Raises:
      ClassifierNotFoundError: neither holds a saved_model.pb; the message names the path
        (the app that looks for one adds how to train it).
    """
    for candidate in (path, os.path.join(path, "export")):
        if os.path.isfile(os.path.join(candidate, "saved_model.pb")):
            return candidate
    raise ClassifierNotFoundError(f"no MNIST classifier SavedModel at {path!r} (no saved_model.pb)")


def weights_sha256(export_dir: str) -> str:
    """sha256 over a SavedModel's variables files (names and bytes): the weights' identity.

    Two exports with this digest equal hold bitwise-identical weights.
    """
    export_dir = resolve_export_dir(export_dir)
    digest = hashlib.sha256()
    variables_dir = os.path.join(export_dir, "variables")
    for name in sorted(os.listdir(variables_dir)):
        digest.update(name.encode() + b"\0")
        with open(os.path.join(variables_dir, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


class Classifier:
    """A loaded classifier; ``logits(images)`` runs it. Use as a context manager (or close()).

    Attributes:
      export_dir: the SavedModel directory it was loaded from.
    """

    def __init__(self, export_dir: str, numerics: tf_determinism.Numerics | None = None) -> None:
        """Loads the SavedModel (see the module docstring for its contract).

        Args:
          export_dir: a SavedModel directory, or a classifier run dir holding ``export/``.
          numerics: thread counts for the session (default ``tf_determinism.Numerics()``).

        Raises:
          ClassifierNotFoundError: no SavedModel there.
          ValueError: the SavedModel lacks the expected signature, input or output.
          graph_audit.CpuDependentOpError: its graph holds an op whose bits follow the CPU.
        """
        self.export_dir = resolve_export_dir(export_dir)
        numerics = numerics or tf_determinism.Numerics()
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(
            graph=self._graph, config=tf_determinism.session_config(numerics)
        )
        try:
            with self._graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(
                    self._session, [tf.saved_model.SERVING], self.export_dir
                )
            signature = meta_graph.signature_def.get(_SIGNATURE)
            if (
                signature is None
                or INPUT_KEY not in signature.inputs
                or LOGITS_KEY not in signature.outputs
            ):
                raise ValueError(
                    f"{self.export_dir}: not an MNIST classifier SavedModel (needs signature "
                    f"{_SIGNATURE!r} with input {INPUT_KEY!r} and output {LOGITS_KEY!r})"
                )
            self._input = self._graph.get_tensor_by_name(signature.inputs[INPUT_KEY].name)
            self._logits = self._graph.get_tensor_by_name(signature.outputs[LOGITS_KEY].name)
            graph_audit.audit(self._graph)
        except BaseException:
            self._session.close()
            raise

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Classifies images.

        Args:
          images: float32 [N, 28, 28, 1] (or [N, 28, 28]) in [-1, 1]: generated images, or
            real ones through ``to_classifier_input``. N >= 1.

        Returns:
          float32 [N, 10] logits, a pure function of each image (batches of fixed size).
        """
        images = np.asarray(images)
        if (
            images.dtype != np.float32
            or images.ndim not in (3, 4)
            or images.shape[1:3] != (28, 28)
            or len(images) == 0
        ):
            raise ValueError(
                f"Classifier.logits: expected float32 [N >= 1, 28, 28, 1] in "
                f"[-1, 1], got {images.dtype} {list(images.shape)}"
            )
        images = images.reshape(-1, 28, 28, 1)
        outputs = []
        for start in range(0, len(images), _BATCH_SIZE):
            batch = images[start : start + _BATCH_SIZE]
            count = len(batch)
            if count < _BATCH_SIZE:
                batch = np.concatenate(
                    [batch, np.zeros((_BATCH_SIZE - count, 28, 28, 1), np.float32)]
                )
            outputs.append(self._session.run(self._logits, {self._input: batch})[:count])
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def close(self) -> None:
        """Releases the session."""
        self._session.close()

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def load_classifier(export_dir: str, numerics: tf_determinism.Numerics | None = None) -> Classifier:
    """Loads the classifier SavedModel at export_dir (or its run dir); see ``Classifier``.

    Raises:
      ClassifierNotFoundError: no SavedModel at export_dir.
    """
    return Classifier(export_dir, numerics)
