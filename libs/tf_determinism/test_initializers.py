"""Keras initializers without a seed, seeded by the run (initializers.seeded_keras_initializers):
keyed by (seed, variable name), not by Python's per-process `random`."""

from __future__ import annotations

import random

import numpy as np
import tensorflow as tf

from tf_determinism.initializers import seeded_keras_initializers

keras = tf.keras


def _initial_weights(seed: int | None, build) -> dict[str, np.ndarray]:
    """The initial variables of the graph `build` makes (under the seeded scope unless seed is
    None), after Python's `random` moved on: another process's."""
    random.seed(random.random())
    with tf.Graph().as_default():
        if seed is None:
            build()
        else:
            with seeded_keras_initializers(seed):
                build()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return {v.op.name: session.run(v) for v in tf.compat.v1.global_variables()}


def _model() -> None:
    x = tf.zeros([2, 6, 6, 1])
    x = keras.layers.Conv2D(2, 3)(x)
    x = keras.layers.Conv2DTranspose(2, 3)(x)
    keras.layers.Dense(3)(keras.layers.Flatten()(x))
    keras.layers.Embedding(5, 2)(tf.constant([[1, 2]]))
    keras.layers.Dense(2, kernel_initializer=keras.initializers.RandomNormal(seed=5))(x)
    tf.compat.v1.layers.dense(tf.zeros([1, 3]), 2)


def test_unseeded_keras_initializers_are_keyed_by_the_seed_and_the_name() -> None:
    first, again, other = (_initial_weights(s, _model) for s in (7, 7, 8))
    assert sorted(first) == sorted(again)
    assert all(np.array_equal(first[n], again[n]) for n in first)
    drawn = [n for n in first if first[n].any() and "dense_1/" not in n]  # not zeros, not seeded
    assert len(drawn) == 5 and not any(np.array_equal(first[n], other[n]) for n in drawn)
    # The seeded initializer is left as the model has it: the same under any run seed.
    assert np.array_equal(first["dense_1/kernel"], other["dense_1/kernel"])


def test_without_the_scope_keras_draws_another_seed_per_process() -> None:
    first, again = (_initial_weights(None, _model) for _ in range(2))
    assert not np.array_equal(first["dense/kernel"], again["dense/kernel"])


def test_a_variable_keeps_its_weights_whatever_is_built_before_it() -> None:
    def extra_first() -> None:
        tf.compat.v1.get_variable("unrelated", [3], initializer=tf.compat.v1.zeros_initializer())
        keras.layers.Dense(4, name="late")(tf.zeros([1, 2]))

    def alone() -> None:
        keras.layers.Dense(4, name="late")(tf.zeros([1, 2]))

    a, b = _initial_weights(3, extra_first), _initial_weights(3, alone)
    assert np.array_equal(a["late/kernel"], b["late/kernel"])
