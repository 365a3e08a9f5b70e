"""tree_sum / tree_mean: the pairing is fixed by position."""

import numpy as np
import pytest
import tensorflow as tf

from tf_determinism.reduce import tree_mean, tree_sum


def test_tree_sum_pairs_by_position() -> None:
    # float32: 1e8 + 1 rounds to 1e8, so the association decides the result.
    values = [tf.constant(x, tf.float32) for x in (1e8, 1.0, -1e8, 1.0)]
    assert float(tree_sum(values)) == 0.0  # (1e8 + 1) + (-1e8 + 1)
    assert float(((values[0] + values[1]) + values[2]) + values[3]) == 1.0  # left to right
    odd = [tf.constant([x], tf.float32) for x in (1.0, 2.0, 3.0, 4.0, 5.0)]
    np.testing.assert_array_equal(tree_sum(odd).numpy(), [15.0])
    single = tf.constant([0.1, 0.2])
    assert tree_mean([single]) is single
    np.testing.assert_array_equal(tree_mean([tf.constant(1.0), tf.constant(2.0)]).numpy(), 1.5)
    with pytest.raises(ValueError, match="at least one"):
        tree_sum([])
