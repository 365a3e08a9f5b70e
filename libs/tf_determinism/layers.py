"""Graph-mode layers whose initial weights are stateless draws keyed by (init seed, variable
name) (initializers.py), for models written with `tf.compat.v1.get_variable` (imports TF).

    with tf.compat.v1.variable_scope("net"):
        h = dense(x, 128, "fc1", seeds.init)            # variables net/fc1/kernel, net/fc1/bias
        h = layer_norm(h, "ln", seeds.init)             # tf_determinism.exact's layer norm
        h = dropout(h, 0.1, key, tag=1)                 # key: stateless_key(seeds.dropout, k)

A variable's name is its key, so building the graph again, in another order or with other
layers around it cannot change its initial value; `tf.compat.v1.AUTO_REUSE` scopes share them.
"""

from __future__ import annotations

import tensorflow as tf

from tf_determinism import exact, ops
from tf_determinism.initializers import StatelessGlorotUniform

_v1 = tf.compat.v1
INITIALIZERS = ("glorot", "zeros", "ones")


def variable(name: str, shape: list[int], init_seed: int, init: str = "glorot") -> tf.Variable:
    """get_variable(name) in the current variable scope, float32, initialized by `init`
    ("glorot": StatelessGlorotUniform keyed by the full name; "zeros"; "ones")."""
    if init not in INITIALIZERS:
        raise ValueError(f"variable: init must be one of {', '.join(INITIALIZERS)}, got {init!r}")
    full = f"{_v1.get_variable_scope().name}/{name}".lstrip("/")
    initializer = (
        StatelessGlorotUniform(init_seed, full)
        if init == "glorot"
        else _v1.zeros_initializer()
        if init == "zeros"
        else _v1.ones_initializer()
    )
    return _v1.get_variable(name, shape, tf.float32, initializer)


def dense(x: tf.Tensor, units: int, name: str, init_seed: int) -> tf.Tensor:
    """x @ kernel + bias over x's last axis (x of any rank >= 2, static last dimension);
    variables <name>/kernel (glorot) and <name>/bias (zeros)."""
    width = int(x.shape[-1])
    kernel = variable(f"{name}/kernel", [width, units], init_seed)
    bias = variable(f"{name}/bias", [units], init_seed, "zeros")
    if x.shape.rank == 2:
        return ops.bias_add(ops.matmul(x, kernel), bias)
    y = ops.bias_add(ops.matmul(tf.reshape(x, [-1, width]), kernel), bias)
    return tf.reshape(y, tf.concat([tf.shape(x)[:-1], [units]], 0))


def layer_norm(x: tf.Tensor, name: str, init_seed: int) -> tf.Tensor:
    """exact.layer_normalization over the last axis; variables <name>/scale (ones) and
    <name>/offset (zeros)."""
    width = [int(x.shape[-1])]
    return exact.layer_normalization(
        x,
        scale=variable(f"{name}/scale", width, init_seed, "ones"),
        offset=variable(f"{name}/offset", width, init_seed, "zeros"),
    )


def dropout(x: tf.Tensor, rate: float, key: tf.Tensor | None, tag: int = 0) -> tf.Tensor:
    """Stateless dropout whose mask is a function of (key, tag) alone: e.g. key = [dropout
    sub-seed, batch index] (`stateless_key`) and tag = the layer. key None or rate 0: x."""
    if key is None or rate == 0:
        return x
    return tf.nn.experimental.stateless_dropout(
        x, rate, seed=tf.random.experimental.stateless_fold_in(key, tag)
    )
