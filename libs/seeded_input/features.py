"""Feature specs: numpy arrays <-> tf.train.Example protos <-> parsed tensors.

A *feature spec* maps each feature name to ``{"dtype": str, "shape": [int, ...], "encoding": str}``
(one example's shape, without the leading example axis). It is stored in the manifest, so
readers never hand-write ``tf.io.FixedLenFeature`` dicts. The encoding is chosen from the dtype
so that every value survives the round trip bit for bit:

* ``"bytes"``: raw little-endian bytes in a ``bytes_list`` (uint8 images, and dtypes that the
  proto's int64/float lists cannot hold exactly: float16, float64, uint64);
* ``"int64"``: ``int64_list`` (bool and the other integer dtypes), cast back after parsing;
* ``"float"``: ``float_list`` (float32 only, the list's own precision).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

FeatureSpec = dict[str, dict[str, Any]]

_BYTES_DTYPES = frozenset({"uint8", "float16", "float64", "uint64"})
_INT64_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint16", "uint32"})
_FLOAT_DTYPES = frozenset({"float32"})


def encoding_for(dtype: np.dtype) -> str:
    """Returns the lossless proto encoding ("bytes", "int64" or "float") for a numpy dtype.

    Raises:
        ValueError: if the dtype has no lossless encoding (e.g. object, str, complex).
    """
    name = np.dtype(dtype).name
    if name in _BYTES_DTYPES:
        return "bytes"
    if name in _INT64_DTYPES:
        return "int64"
    if name in _FLOAT_DTYPES:
        return "float"
    raise ValueError(f"unsupported feature dtype {name!r}: use a bool, integer or float dtype")


def spec_from_arrays(features: Mapping[str, np.ndarray]) -> tuple[FeatureSpec, int]:
    """Builds the feature spec of a dict of arrays that share their leading (example) axis.

    Args:
        features: name -> array of shape [num_examples, ...]; at least one feature.

    Returns:
        (feature spec, num_examples).

    Raises:
        ValueError: on no features, a 0-d array, unequal leading sizes, zero examples or an
            unsupported dtype.
    """
    if not features:
        raise ValueError("features is empty: pass at least one name -> array")
    spec: FeatureSpec = {}
    count = None
    for name in sorted(features):
        array = np.asarray(features[name])
        if array.ndim < 1:
            raise ValueError(f"feature {name!r} is 0-d: arrays need a leading example axis")
        if count is None:
            count = array.shape[0]
        elif array.shape[0] != count:
            raise ValueError(
                f"feature {name!r} has {array.shape[0]} examples but the others have {count}"
            )
        try:
            encoding = encoding_for(array.dtype)
        except ValueError as exc:
            raise ValueError(f"feature {name!r}: {exc}") from None
        spec[name] = {
            "dtype": array.dtype.name,
            "shape": [int(d) for d in array.shape[1:]],
            "encoding": encoding,
        }
    assert count is not None
    if count < 1:
        raise ValueError("features hold 0 examples: pass at least one example")
    return spec, int(count)


def serialize_examples(features: Mapping[str, np.ndarray], spec: FeatureSpec) -> list[bytes]:
    """Serializes every example (row) of ``features`` into a ``tf.train.Example`` proto.

    Args:
        features: name -> array of shape [num_examples, *spec[name]["shape"]].
        spec: the feature spec from ``spec_from_arrays(features)``.

    Returns:
        num_examples serialized protos, in row order.
    """
    columns = {}
    for name, entry in spec.items():
        # Little-endian on every host, matching decode_raw(little_endian=True) below.
        array = np.asarray(features[name])
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        columns[name] = (entry["encoding"], array.reshape(array.shape[0], -1))
    count = next(iter(columns.values()))[1].shape[0]
    out = []
    for row in range(count):
        example = tf.train.Example()
        feature_map = example.features.feature
        for name, (encoding, flat) in columns.items():
            if encoding == "bytes":
                feature_map[name].bytes_list.value.append(flat[row].tobytes())
            elif encoding == "int64":
                feature_map[name].int64_list.value.extend(flat[row].astype(np.int64).tolist())
            else:
                feature_map[name].float_list.value.extend(flat[row].tolist())
        # deterministic=True sorts the feature map, so the bytes (and the manifest's hashes)
        # do not depend on the protobuf implementation's map ordering.
        out.append(example.SerializeToString(deterministic=True))
    return out


def make_parse_fn(
    spec_or_manifest: Mapping[str, Any],
) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    """Returns a function parsing serialized examples into tensors of the stored dtypes/shapes.

    Args:
        spec_or_manifest: a manifest from ``write_records`` (uses its "features") or a feature
            spec (name -> {"dtype", "shape", "encoding"}).

    Returns:
        fn(serialized) -> {name: tensor}. ``serialized`` is a tf.string tensor of shape [] (one
        example; outputs have the stored shape) or [B] (a batch, parsed in one vectorised op;
        outputs have shape [B, *stored shape]). Dtypes are the stored numpy dtypes.

    Raises:
        ValueError: if the spec is malformed.
    """
    spec = spec_or_manifest.get("features", spec_or_manifest)
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError("make_parse_fn needs a manifest or a non-empty feature spec")
    parsed_spec: dict[str, tuple[str, tf.DType, list[int]]] = {}
    for name, entry in spec.items():
        try:
            dtype, shape = np.dtype(entry["dtype"]), list(entry["shape"])
            encoding = entry["encoding"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"feature {name!r} spec {entry!r} lacks dtype/shape/encoding") from exc
        if encoding != encoding_for(dtype):
            raise ValueError(f"feature {name!r}: encoding {encoding!r} does not fit {dtype.name}")
        parsed_spec[name] = (encoding, tf.as_dtype(dtype), [int(d) for d in shape])

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        serialized = tf.convert_to_tensor(serialized, tf.string)
        rank = serialized.shape.rank
        if rank not in (0, 1):
            raise ValueError(f"serialized must have shape [] or [B], got {serialized.shape}")
        proto_spec = {}
        for name, (encoding, _dtype, shape) in parsed_spec.items():
            if encoding == "bytes":
                proto_spec[name] = tf.io.FixedLenFeature([], tf.string)
            elif encoding == "int64":
                proto_spec[name] = tf.io.FixedLenFeature(shape, tf.int64)
            else:
                proto_spec[name] = tf.io.FixedLenFeature(shape, tf.float32)
        raw = tf.io.parse_example(serialized, proto_spec)
        out = {}
        for name, (encoding, dtype, shape) in parsed_spec.items():
            value = raw[name]
            if encoding == "bytes":
                # decode_raw of a [B] batch gives [B, n]: one C++ call for the whole batch.
                if dtype == tf.uint64:  # decode_raw has no uint64: same bits via int64
                    value = tf.bitcast(
                        tf.io.decode_raw(value, tf.int64, little_endian=True), tf.uint64
                    )
                else:
                    value = tf.io.decode_raw(value, dtype, little_endian=True)
                if rank == 0:
                    value = tf.reshape(value, shape)
                else:
                    target = tf.concat([tf.shape(serialized)[:1], tf.constant(shape, tf.int32)], 0)
                    value = tf.reshape(value, target)
                    value.set_shape([serialized.shape[0], *shape])
            elif dtype != tf.int64 and encoding == "int64":
                value = tf.cast(value, dtype)
            out[name] = value
        return out

    return parse
