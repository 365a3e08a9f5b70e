"""gan_models on the Estimator: every gan_type x loss trains reproducibly (also with two
micro-batches), resume, the one-run step, predict.

Tiny synthetic batches (B=4) from a stateless input_fn keyed by (data seed, batch index), so
two runs see identical batches and a resumed run can skip the batches an uninterrupted run
consumed. (Split from test_gan_models.py so that Pants runs the two halves in parallel.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

import gan_models as gm
import tf_determinism
from run_compare import same_tensors
from tf_determinism import SeedTree, graph_audit

_B = 4
_v1 = tf.compat.v1


# ----------------------------------------------------------------------------- helpers


def _config(root: int = 0, **kwargs: Any) -> gm.GANConfig:
    # 1/16 of the example's widths: the same graph, and no property here depends on the size.
    return gm.GANConfig(seeds=SeedTree.from_root(root, gm.SEED_NAMES), width_divisor=16, **kwargs)


def _input_fn(
    config: gm.GANConfig, data_seed: int, skip_batches: int = 0
) -> Callable[[], tf.data.Dataset]:
    """Synthetic stateless batches: batch i is a pure function of (data_seed, i)."""

    def input_fn() -> tf.data.Dataset:
        def make(index: tf.Tensor) -> Any:
            seed = tf.stack([tf.constant(data_seed, tf.int64), index])
            fold = tf.random.experimental.stateless_fold_in
            images = tf.random.stateless_uniform(
                [_B, 28, 28, 1], seed=fold(seed, 0), minval=-1.0, maxval=1.0
            )
            classes = tf.random.stateless_uniform(
                [_B], seed=fold(seed, 1), minval=0, maxval=10, dtype=tf.int32
            )
            labels = tf.one_hot(classes, 10) if config.gan_type == "conditional" else None
            return (
                gm.training_features(
                    config, batch_size=_B, batch_index=index, one_hot_labels=labels
                ),
                images,
            )

        return tf.data.Dataset.range(skip_batches, 1 << 40).map(make)

    return input_fn


class _Recorder(tf.estimator.SessionRunHook):
    """Records the named per-step losses and, at the end, every global variable."""

    def __init__(self, names: dict[str, str], snapshot_after: int | None = None) -> None:
        self.names = names
        self.snapshot_after = snapshot_after
        self.losses: list[dict[str, np.float32]] = []
        self.variables: dict[str, np.ndarray] = {}
        self.snapshot: dict[str, np.ndarray] = {}

    def before_run(self, run_context: Any) -> tf.estimator.SessionRunArgs:
        return tf.estimator.SessionRunArgs(self.names)

    def after_run(self, run_context: Any, run_values: Any) -> None:
        self.losses.append(run_values.results)
        if len(self.losses) == self.snapshot_after:
            self.snapshot = _all_variables(run_context.session)

    def end(self, session: Any) -> None:
        self.variables = _all_variables(session)


def _all_variables(session: Any) -> dict[str, np.ndarray]:
    variables = _v1.global_variables()
    values = session.run(variables)
    return {v.op.name: value for v, value in zip(variables, values, strict=True)}


def _train(
    config: gm.GANConfig,
    model_dir: Any,
    max_steps: int,
    *,
    data_seed: int = 7,
    skip_batches: int = 0,
    checkpoints: bool = False,
    snapshot_after: int | None = None,
) -> _Recorder:
    run_config = tf.estimator.RunConfig(
        model_dir=str(model_dir),
        tf_random_seed=config.seeds.root,
        save_checkpoints_steps=10_000 if checkpoints else None,
        save_checkpoints_secs=None,
        keep_checkpoint_max=1,
        save_summary_steps=1,
        log_step_count_steps=10_000,
    )
    recorder = _Recorder(gm.loss_tensor_names(config), snapshot_after)
    estimator = gm.make_estimator(config, run_config)
    estimator.train(
        _input_fn(config, data_seed, skip_batches), max_steps=max_steps, hooks=[recorder]
    )
    return recorder


def _row_bytes(rows: list[dict[str, Any]]) -> list[dict[str, bytes]]:
    return [{k: np.float32(v).tobytes() for k, v in row.items()} for row in rows]


def _loss_bytes(recorder: _Recorder) -> list[dict[str, bytes]]:
    return _row_bytes(recorder.losses)


def _two_sessions(config: gm.GANConfig, steps: int = 2) -> list[tuple[list, dict]]:
    """Builds the train step once (the Estimator's model_fn on the synthetic input), audits
    its graph, and runs `steps` steps in each of two fresh sessions (variables initialized
    anew): [(per-step losses, final variables)] per session.

    One graph, two runs: what varies between runs of one graph (threads, kernels, the order
    in which TF schedules the step's reads and writes) is exactly what the step must make
    irrelevant. That a rebuilt graph starts from the same bits is test_gan_models' (the
    initializers) and the app's (fresh processes)."""
    estimator = gm.make_estimator(config, tf.estimator.RunConfig(model_dir="/unused"))
    with tf.Graph().as_default() as graph:
        _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
        features, images = _v1.data.make_one_shot_iterator(
            _input_fn(config, data_seed=7)()
        ).get_next()
        spec = estimator.model_fn(features, images, tf.estimator.ModeKeys.TRAIN, estimator.config)
        census = graph_audit.audit(graph)
        assert "Rsqrt" not in census
        losses = {
            key: graph.get_tensor_by_name(name)
            for key, name in gm.loss_tensor_names(config).items()
        }
        runs = []
        for _ in range(2):
            with _v1.Session(
                config=tf_determinism.session_config(tf_determinism.Numerics())
            ) as session:
                session.run(_v1.global_variables_initializer())
                rows = [session.run([spec.train_op, losses])[1] for _ in range(steps)]
                runs.append((rows, _all_variables(session)))
    return runs


# One (gan_type, loss) per gan_type in the quick tier, with micro-batches and the losses with
# logs among them; the rest of the matrix is the slow tier (REPRO_SLOW_TESTS=1).
_QUICK = {
    ("unconditional", "wasserstein"),
    ("conditional", "least_squares"),
    ("infogan", "minimax"),
}


@pytest.mark.parametrize(
    "gan_type, loss",
    [
        pytest.param(g, loss, marks=() if (g, loss) in _QUICK else pytest.mark.slow)
        for g in gm.GAN_TYPES
        for loss in gm.LOSS_NAMES
    ],
)
def test_every_loss_trains_reproducibly(gan_type: str, loss: str) -> None:
    """Every (gan_type x loss), the gradient penalty on: 2 steps, finite losses, the same bits
    in two runs, and a graph that passes the CPU-independence audit; least_squares and
    minimax with 2 micro-batches; another seed differs.

    Two steps, not more: step 2 already starts from everything step 1 left behind (Adam slots,
    spectral-norm vectors, moving averages); each extra step exercises nothing new.
    """
    micro = 2 if loss in ("least_squares", "minimax") else 1
    config = _config(
        11, gan_type=gan_type, loss=loss, gradient_penalty_weight=10.0, micro_batches=micro
    )
    (rows_a, vars_a), (rows_b, vars_b) = _two_sessions(config)
    assert len(rows_a) == 2 and set(rows_a[0]) == set(gm.loss_tensor_names(config))
    assert all(np.isfinite(v) for row in rows_a for v in row.values())
    assert _row_bytes(rows_a) == _row_bytes(rows_b), loss
    assert same_tensors(vars_a, vars_b), loss
    # Different seed -> different losses and weights.
    (rows_other, vars_other), _ = _two_sessions(
        _config(12, gan_type=gan_type, loss=loss, gradient_penalty_weight=10.0, micro_batches=micro)
    )
    assert _row_bytes(rows_other)[0] != _row_bytes(rows_a)[0]
    assert vars_other.keys() == vars_a.keys()
    kernel = "Generator/fc1/kernel"
    assert vars_other[kernel].tobytes() != vars_a[kernel].tobytes()


def test_resumed_run_equals_uninterrupted_run(tmp_path: Any) -> None:
    """1 step + resume to 2 == 2 straight, when the input skips BATCHES_PER_STEP per step
    (M=2, gradient penalty: every kind of keyed draw).

    One step before the checkpoint already leaves every kind of state a resume must restore
    (Adam slots and powers, spectral-norm vectors, moving averages).
    """
    config = _config(5, gan_type="conditional", gradient_penalty_weight=10.0, micro_batches=2)
    straight = _train(config, tmp_path / "straight", 3, snapshot_after=2)
    part1 = _train(config, tmp_path / "resumed", 1, checkpoints=True)
    part2 = _train(
        config, tmp_path / "resumed", 2, checkpoints=True, skip_batches=1 * gm.BATCHES_PER_STEP
    )
    assert len(part1.losses) == 1 and len(part2.losses) == 1
    assert _loss_bytes(part1) + _loss_bytes(part2) == _loss_bytes(straight)[:2]
    assert same_tensors(part2.variables, straight.snapshot)
    # Skipping one batch too few shifts every later batch: the resumed run diverges.
    wrong = _train(
        config, tmp_path / "resumed", 3, checkpoints=True, skip_batches=2 * gm.BATCHES_PER_STEP - 1
    )
    assert len(wrong.losses) == 1
    assert _loss_bytes(wrong)[0] != _loss_bytes(straight)[2]


@pytest.mark.parametrize("gan_type", ["conditional", "infogan"])
def test_predict_sample_grid(gan_type: str, tmp_path: Any) -> None:
    """Tuple features reach the generator intact (conditional, infogan)."""
    config = _config(2, gan_type=gan_type)
    grid = gm.sample_generator_inputs(config, 2, 3)
    estimator = gm.make_estimator(config, tf.estimator.RunConfig(model_dir=str(tmp_path)))
    images = np.stack(list(estimator.predict(gm.predict_input_fn(grid))))
    assert images.shape == (6, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    # Rows differ in class/categorical code only (same column noise): the code is used.
    assert not np.array_equal(images[0], images[3])
