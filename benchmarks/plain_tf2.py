"""The MNIST GAN's step as plain TF 2.15 (`tf.function`, `tf.GradientTape`, Keras Adam):
the measuring stick of `train_steps` for what the Estimator/TF-GAN machinery costs.

Same shapes and work per step as the shipped unconditional WGAN step: generator (dense 1024
-> BN -> dense 7*7*128 -> BN -> deconv 64 -> BN -> deconv 32 -> BN -> conv 1 -> tanh) and
spectrally normalized critic (conv 64 -> conv 128 -> dense 1024 -> BN -> dense 1), L2 weight
decay on the kernels, one generator update then one critic update per step, each from its own
forward pass, the losses taken from those passes. No determinism measures (no pairwise
gradient aggregation, no gating, no ordering of the spectral-norm write): it claims no bits,
only speed. Inputs are random "real" images and stateless noise, so the data pipeline is not
in the timing (the shipped step's is prefetched in parallel).
"""

from __future__ import annotations

import time
from typing import Any

import tensorflow as tf

_B, _Z, _DECAY = 32, 64, 2.5e-5


def _glorot(shape: tuple[int, ...], seed: int) -> tf.Variable:
    return tf.Variable(tf.keras.initializers.GlorotUniform(seed=seed)(shape))


def _bn(x: tf.Tensor, gamma: tf.Variable, beta: tf.Variable) -> tf.Tensor:
    mean, var = tf.nn.moments(x, list(range(x.shape.ndims - 1)))
    return tf.nn.batch_normalization(x, mean, var, beta, gamma, 1e-3)


class PlainGan:
    """Variables, optimizers and the compiled step."""

    def __init__(self, batch_size: int = _B) -> None:
        self.batch = batch_size
        k = iter(range(100))
        self.g = {
            "fc1": _glorot((_Z, 1024), next(k)),
            "fc2": _glorot((1024, 6272), next(k)),
            "dc1": _glorot((4, 4, 64, 128), next(k)),
            "dc2": _glorot((4, 4, 32, 64), next(k)),
            "out": _glorot((4, 4, 32, 1), next(k)),
            "out_b": tf.Variable(tf.zeros(1)),
        }
        for name, size in (("1", 1024), ("2", 6272), ("3", 64), ("4", 32)):
            self.g["gamma" + name] = tf.Variable(tf.ones(size))
            self.g["beta" + name] = tf.Variable(tf.zeros(size))
        self.d = {
            "c1": _glorot((4, 4, 1, 64), next(k)),
            "c1_b": tf.Variable(tf.zeros(64)),
            "c2": _glorot((4, 4, 64, 128), next(k)),
            "c2_b": tf.Variable(tf.zeros(128)),
            "fc": _glorot((6272, 1024), next(k)),
            "gamma": tf.Variable(tf.ones(1024)),
            "beta": tf.Variable(tf.zeros(1024)),
            "o": _glorot((1024, 1), next(k)),
            "o_b": tf.Variable(tf.zeros(1)),
        }
        self.u = {
            name: tf.Variable(
                tf.random.stateless_normal(
                    [int(tf.reduce_prod(self.d[name].shape[:-1])), 1], [0, i]
                ),
                trainable=False,
            )
            for i, name in enumerate(("c1", "c2", "fc", "o"))
        }
        self.gen_opt = tf.keras.optimizers.Adam(1e-3, beta_1=0.5)
        self.dis_opt = tf.keras.optimizers.Adam(1e-4, beta_1=0.5)
        self.step = tf.function(self._step)

    def _generator(self, z: tf.Tensor) -> tf.Tensor:
        g = self.g
        x = tf.nn.relu(_bn(z @ g["fc1"], g["gamma1"], g["beta1"]))
        x = tf.nn.relu(_bn(x @ g["fc2"], g["gamma2"], g["beta2"]))
        x = tf.reshape(x, [-1, 7, 7, 128])
        x = tf.nn.conv2d_transpose(x, g["dc1"], [self.batch, 14, 14, 64], 2, "SAME")
        x = tf.nn.relu(_bn(x, g["gamma3"], g["beta3"]))
        x = tf.nn.conv2d_transpose(x, g["dc2"], [self.batch, 28, 28, 32], 2, "SAME")
        x = tf.nn.relu(_bn(x, g["gamma4"], g["beta4"]))
        return tf.tanh(tf.nn.conv2d(x, g["out"], 1, "SAME") + g["out_b"])

    def _normalized(self, name: str) -> tf.Tensor:
        kernel = self.d[name]
        w = tf.reshape(kernel, [-1, kernel.shape[-1]])
        v = tf.nn.l2_normalize(tf.matmul(w, self.u[name], transpose_a=True))
        u = tf.nn.l2_normalize(tf.matmul(w, v))
        u, v = tf.stop_gradient(u), tf.stop_gradient(v)
        self.u[name].assign(u)
        return kernel / tf.matmul(tf.matmul(u, w, transpose_a=True), v)[0][0]

    def _critic(self, x: tf.Tensor) -> tf.Tensor:
        d = self.d
        x = tf.nn.leaky_relu(tf.nn.conv2d(x, self._normalized("c1"), 2, "SAME") + d["c1_b"], 0.01)
        x = tf.nn.leaky_relu(tf.nn.conv2d(x, self._normalized("c2"), 2, "SAME") + d["c2_b"], 0.01)
        x = tf.reshape(x, [self.batch, -1])
        x = tf.nn.leaky_relu(_bn(x @ self._normalized("fc"), d["gamma"], d["beta"]), 0.01)
        return x @ self._normalized("o") + d["o_b"]

    @staticmethod
    def _decay(variables: dict[str, tf.Variable]) -> tf.Tensor:
        kernels = [v for n, v in variables.items() if v.shape.ndims > 1]
        return _DECAY * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])

    def _step(self, real: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        gen_vars, dis_vars = list(self.g.values()), list(self.d.values())
        z = tf.random.stateless_normal([self.batch, _Z], seed)
        with tf.GradientTape() as tape:
            gen_loss = -tf.reduce_mean(self._critic(self._generator(z))) + self._decay(self.g)
        self.gen_opt.apply_gradients(zip(tape.gradient(gen_loss, gen_vars), gen_vars, strict=True))
        with tf.GradientTape() as tape:
            fake = self._generator(z)
            dis_loss = (
                tf.reduce_mean(self._critic(fake))
                - tf.reduce_mean(self._critic(real))
                + self._decay(self.d)
            )
        self.dis_opt.apply_gradients(zip(tape.gradient(dis_loss, dis_vars), dis_vars, strict=True))
        return gen_loss, dis_loss


def step_times(steps: int) -> list[float]:
    """Trains `steps` steps; returns each step's end time (perf_counter seconds)."""
    model = PlainGan()
    real = tf.random.stateless_uniform([_B, 28, 28, 1], [1, 2], -1.0, 1.0)
    times: list[Any] = []
    for i in range(steps):
        gen_loss, _ = model.step(real, tf.constant([i, 7], tf.int64))
        float(gen_loss)  # The losses reach Python each step, as the shipped app logs them.
        times.append(time.perf_counter())
    return times
