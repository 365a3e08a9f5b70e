"""The pinned stack imports together and runs a tiny graph."""

import numpy as np
import tensorflow as tf
import tensorflow_estimator  # noqa: F401
import tensorflow_gan as tfgan


def test_stack_versions_and_tiny_graph() -> None:
    assert tf.__version__ == "2.15.1"
    assert hasattr(tfgan, "gan_model")
    graph = tf.Graph()
    with graph.as_default():
        a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
        out = tf.matmul(a, a)
    with tf.compat.v1.Session(graph=graph) as sess:
        result = sess.run(out)
    np.testing.assert_array_equal(result, np.array([[7.0, 10.0], [15.0, 22.0]], np.float32))
