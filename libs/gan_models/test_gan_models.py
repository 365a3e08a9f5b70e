"""Tests for libs/gan_models: config, inputs, networks, losses (training: test_training.py).

The Estimator tests use tiny synthetic batches (B=4) from a stateless input_fn keyed by
(data seed, batch index), so two runs see identical batches and a resumed run can skip the
batches an uninterrupted run consumed. Seeds, initializers, DeterministicAdam and the Grappler
settings are tf_determinism's, tested there.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_gan as tfgan
import tensorflow_probability as tfp

import gan_models as gm
from gan_models import networks
from run_compare import same_tensors
from tf_determinism import SeedTree

_v1 = tf.compat.v1


def _with(tree: SeedTree, **sub_seeds: int) -> SeedTree:
    """`tree` with some sub-seeds replaced."""
    return SeedTree(tree.root, {**tree.sub_seeds, **sub_seeds})


def _config(root: int = 0, **kwargs: Any) -> gm.GANConfig:
    return gm.GANConfig(seeds=SeedTree.from_root(root, gm.SEED_NAMES), **kwargs)


def _build_networks(config: gm.GANConfig, graph_seed: int) -> dict[str, Any]:
    """Builds generator + critic in a fresh graph; returns initial values and outputs."""
    graph = tf.Graph()
    with graph.as_default():
        _v1.set_random_seed(graph_seed)
        tf.random.uniform([graph_seed % 5 + 1])  # Unrelated random ops built first.
        inputs = tf.nest.map_structure(tf.constant, gm.sample_generator_inputs(config, 2, 3))
        with _v1.variable_scope("Generator"):
            images = networks.generator(inputs, config, is_training=True)
        with _v1.variable_scope("Discriminator"):
            critic_out = networks.critic(images, inputs, config)
        with _v1.variable_scope("Discriminator", reuse=True):
            networks.critic(images, inputs, config)  # Reuse must not create variables.
        logits = critic_out[0] if config.gan_type == "infogan" else critic_out
        variables = _v1.global_variables()
        regularization = [
            _v1.losses.get_regularization_losses(scope) for scope in ("Generator", "Discriminator")
        ]
        with _v1.Session(graph=graph) as sess:
            sess.run(_v1.global_variables_initializer())
            values, out_images, out_logits, reg_values = sess.run(
                [variables, images, logits, regularization]
            )
        return {
            "weights": {v.op.name: x for v, x in zip(variables, values, strict=True)},
            "regularization": reg_values,
            "trainable_shapes": sorted(v.shape.as_list() for v in _v1.trainable_variables()),
            "images": out_images,
            "logits": out_logits,
            "critic_out": critic_out,
        }


def _example_trainable_shapes(config: gm.GANConfig) -> list[list[int]]:
    """Trainable variable shapes of TF-GAN's own examples/mnist networks."""
    from tensorflow_gan.examples.mnist import networks as example

    gen = {
        "unconditional": example.unconditional_generator,
        "conditional": example.conditional_generator,
        "infogan": functools.partial(example.infogan_generator, categorical_dim=10),
    }
    dis = {
        "unconditional": example.unconditional_discriminator,
        "conditional": example.conditional_discriminator,
        "infogan": example.infogan_discriminator,
    }
    with tf.Graph().as_default():
        _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
        inputs = tf.nest.map_structure(tf.constant, gm.sample_generator_inputs(config, 2, 2))
        with _v1.variable_scope("Generator"):
            images = gen[config.gan_type](inputs)
        with _v1.variable_scope("Discriminator"):
            dis[config.gan_type](images, inputs)
        return sorted(v.shape.as_list() for v in _v1.trainable_variables())


# ----------------------------------------------------------------------------- config


def test_config_defaults_and_validation() -> None:
    assert gm.GANConfig().resolved_loss == "wasserstein"
    assert gm.GANConfig(gan_type="conditional").resolved_loss == "wasserstein"
    infogan = gm.GANConfig(gan_type="infogan")
    assert infogan.resolved_loss == "modified"
    assert (infogan.resolved_gen_lr, infogan.resolved_crit_lr) == (1e-4, 1e-4)
    assert gm.GANConfig().resolved_gen_lr == 1e-3
    assert gm.GANConfig(gen_lr=0.5, crit_lr=0.25).resolved_crit_lr == 0.25
    assert infogan.unstructured_noise_dims == 62
    with pytest.raises(ValueError, match="unconditional, conditional, infogan"):
        gm.GANConfig(gan_type="acgan")
    with pytest.raises(ValueError, match="wasserstein, minimax, modified, least_squares"):
        gm.GANConfig(loss="hinge")
    bad_values: list[dict[str, Any]] = [
        {"noise_dims": 0},
        {"noise_dims": True},
        {"gen_lr": -1.0},
        {"crit_lr": float("nan")},
        {"gradient_penalty_weight": -0.1},
        {"seeds": 5},
        {"seeds": {"init": 1}},
        {"seeds": None},
        {"num_classes": 1},
        {"mutual_information_penalty_weight": float("inf")},
        {"weight_decay": -1e-5},
        {"micro_batches": 0},
    ]
    for kwargs in bad_values:
        with pytest.raises(ValueError, match=f"GANConfig.{next(iter(kwargs))}"):
            gm.GANConfig(**kwargs)
    with pytest.raises(ValueError, match="noise_dims"):
        gm.GANConfig(gan_type="infogan", noise_dims=2, continuous_dim=2)
    assert gm.GANConfig().seeds == SeedTree.from_root(0, gm.SEED_NAMES)
    assert _config(7).seeds == SeedTree.from_root(7, gm.SEED_NAMES)


def test_compat_shim() -> None:
    def fn(model: Any, add_summaries: bool = False, **kwargs: Any) -> None:
        del model, add_summaries, kwargs

    spec = inspect.getargspec(fn)  # type: ignore[attr-defined]
    assert spec.args == ["model", "add_summaries"] and spec.keywords == "kwargs"


# ----------------------------------------------------------------------------- inputs


def test_generator_inputs_shapes_ranges_and_seeding() -> None:
    labels = np.eye(10, dtype=np.float32)[[1, 2, 3, 4]]
    for gan_type in gm.GAN_TYPES:
        config = gm.GANConfig(gan_type=gan_type)
        one_hot = labels if gan_type == "conditional" else None

        def draw(seed: list[int], config: gm.GANConfig = config, one_hot: Any = one_hot) -> Any:
            out = gm.generator_inputs(config, 4, tf.constant(seed, tf.int64), one_hot)
            return tf.nest.map_structure(lambda t: t.numpy(), out)

        first, again, other = draw([3, 9]), draw([3, 9]), draw([3, 10])
        flat, flat_again, flat_other = (tf.nest.flatten(x) for x in (first, again, other))
        assert all(a.tobytes() == b.tobytes() for a, b in zip(flat, flat_again, strict=True))
        assert flat[0].tobytes() != flat_other[0].tobytes()
        noise = flat[0]
        assert noise.dtype == np.float32 and noise.shape == (4, config.unstructured_noise_dims)
        if gan_type == "conditional":
            np.testing.assert_array_equal(flat[1], labels)
        if gan_type == "infogan":
            categorical, continuous = flat[1], flat[2]
            assert categorical.dtype == np.int32 and categorical.shape == (4,)
            assert categorical.min() >= 0 and categorical.max() < 10
            assert continuous.dtype == np.float32 and continuous.shape == (4, 2)
            assert continuous.min() >= -1.0 and continuous.max() < 1.0
            assert flat[2].tobytes() != flat_other[2].tobytes()
    with pytest.raises(ValueError, match="one_hot_labels"):
        gm.generator_inputs(gm.GANConfig(gan_type="conditional"), 4, tf.constant([1, 2]))
    with pytest.raises(ValueError, match="one_hot_labels"):
        gm.generator_inputs(gm.GANConfig(), 4, tf.constant([1, 2]), labels)
    with pytest.raises(ValueError, match="shape \\[2\\]"):
        gm.generator_inputs(gm.GANConfig(), 4, tf.constant([1, 2, 3]))
    with pytest.raises(ValueError, match="batch_size"):
        gm.generator_inputs(gm.GANConfig(), 0, tf.constant([1, 2]))


def test_sample_generator_inputs_grid_structure() -> None:
    cond = gm.sample_generator_inputs(_config(1, gan_type="conditional"), 10, 3)
    noise, labels = cond
    assert noise.shape == (30, 64) and labels.shape == (30, 10)
    np.testing.assert_array_equal(labels.argmax(1), np.repeat(np.arange(10), 3))
    np.testing.assert_array_equal(noise[0], noise[3])  # Same column, different row.
    assert not np.array_equal(noise[0], noise[1])
    unstructured, categorical, continuous = gm.sample_generator_inputs(
        _config(1, gan_type="infogan"), 4, 5
    )
    assert unstructured.shape == (20, 62) and continuous.shape == (20, 2)
    np.testing.assert_array_equal(categorical, np.repeat(np.arange(4), 5).astype(np.int32))
    np.testing.assert_array_equal(continuous[2], continuous[7])
    uncond = gm.sample_generator_inputs(_config(1), 2, 2)
    assert uncond.shape == (4, 64) and uncond.dtype == np.float32
    assert uncond.tobytes() == gm.sample_generator_inputs(_config(1), 2, 2).tobytes()
    assert uncond.tobytes() != gm.sample_generator_inputs(_config(2), 2, 2).tobytes()
    # Drawn from the samples sub-seed alone: other sub-seeds do not move the grid.
    seeds = SeedTree.from_root(1, gm.SEED_NAMES)
    others = _with(SeedTree.from_root(2, gm.SEED_NAMES), samples=seeds.samples)
    same = gm.sample_generator_inputs(gm.GANConfig(seeds=others), 2, 2)
    assert same.tobytes() == uncond.tobytes()
    bad_sizes: tuple[Any, ...] = (0, 2.0, True)
    for bad in bad_sizes:
        with pytest.raises(ValueError, match="n_rows"):
            gm.sample_generator_inputs(_config(1), bad, 2)


# ----------------------------------------------------------------------------- networks


@pytest.mark.parametrize("gan_type", gm.GAN_TYPES)
def test_networks_shapes_counts_and_seeded_initial_weights(gan_type: str) -> None:
    config = _config(3, gan_type=gan_type)
    built = _build_networks(config, graph_seed=1)
    images, logits = built["images"], built["logits"]
    assert images.shape == (6, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert logits.shape == (6, 1) and logits.dtype == np.float32
    if gan_type == "infogan":
        q_cat, q_cont = built["critic_out"][1]
        assert q_cat.logits.shape.as_list() == [6, 10] and q_cont.loc.shape.as_list() == [6, 2]
    # Same architecture as TF-GAN's example: identical trainable variable shapes.
    assert built["trainable_shapes"] == _example_trainable_shapes(config)
    expected_counts = {
        "unconditional": (36, 13_225_186),
        "conditional": (43, 15_105_378),
        "infogan": (40, 13_247_726),
    }[gan_type]
    trainable = sum(int(np.prod(s)) for s in built["trainable_shapes"])
    assert (len(built["weights"]), trainable) == expected_counts
    # Weight decay: one loss per network, equal to the example's per-kernel L2 sum.
    undecayed: tuple[str, ...] = ("condition/", "categorical_logits", "continuous_mean")
    if gan_type == "infogan":
        undecayed += ("Discriminator/logits",)
    for scope, losses in zip(("Generator", "Discriminator"), built["regularization"], strict=True):
        kernels = [
            v
            for k, v in built["weights"].items()
            if k.startswith(scope + "/")
            and k.endswith("/kernel")
            and not any(u in k for u in undecayed)
        ]
        expected = 2.5e-5 * sum(float((k.astype(np.float64) ** 2).sum()) for k in kernels)
        decayed = {"Generator": 5, "Discriminator": 3 if gan_type == "infogan" else 4}[scope]
        assert len(losses) == 1 and len(kernels) == decayed
        np.testing.assert_allclose(losses[0], expected, rtol=1e-5)
    # Same config.seeds, different graph seed and graph history: identical bytes.
    again = _build_networks(config, graph_seed=2)
    assert same_tensors(built["weights"], again["weights"])
    assert built["images"].tobytes() == again["images"].tobytes()
    # Different root seed: every randomly initialized variable differs.
    other = _build_networks(_config(4, gan_type=gan_type), graph_seed=1)
    random_vars = [
        k for k in built["weights"] if k.endswith(("kernel", "spectral_norm_u", "embedding"))
    ]
    assert len(random_vars) >= 8
    for name in random_vars:
        assert built["weights"][name].tobytes() != other["weights"][name].tobytes(), name


# ----------------------------------------------------------------------------- losses


def _sigmoid_ce(logits: np.ndarray, labels: float) -> np.ndarray:
    logits = logits.astype(np.float64)
    return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def _fake_model(real_out: np.ndarray, gen_out: np.ndarray) -> tfgan.GANModel:
    return tfgan.GANModel(
        generator_inputs=None,
        generated_data=None,
        generator_variables=None,
        generator_scope=None,
        generator_fn=None,
        real_data=None,
        discriminator_real_outputs=tf.constant(real_out),
        discriminator_gen_outputs=tf.constant(gen_out),
        discriminator_variables=None,
        discriminator_scope=None,
        discriminator_fn=None,
    )


def test_losses_against_hand_computed_values() -> None:
    real = np.array([[1.5], [-0.5], [2.0], [0.25]], np.float32)
    gen = np.array([[-1.0], [0.5], [0.0], [-2.0]], np.float32)
    smooth_real = 1.0 - 0.25 / 2  # TF-GAN's default discriminator label smoothing (0.25).
    d_minimax = _sigmoid_ce(real, smooth_real).mean() + _sigmoid_ce(gen, 0.0).mean()
    expected = {
        "wasserstein": (-gen.mean(), gen.mean() - real.mean()),
        # TF-GAN: -minimax_discriminator_loss(ones_like(gen), gen): a constant "real" logit 1.
        "minimax": (
            -(_sigmoid_ce(np.ones_like(gen), 1.0).mean() + _sigmoid_ce(gen, 0.0).mean()),
            d_minimax,
        ),
        "modified": (_sigmoid_ce(gen, 1.0).mean(), d_minimax),
        "least_squares": (
            ((gen - 1.0) ** 2 / 2).mean(),
            ((real - 1.0) ** 2 / 2).mean() + (gen**2 / 2).mean(),
        ),
    }
    with tf.Graph().as_default():
        _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
        tensors = {}
        for name in gm.LOSS_NAMES:
            config = gm.GANConfig(loss=name)
            model = _fake_model(real, gen)
            tensors[name] = (
                gm.generator_loss_terms(config, model)["generator_loss"],
                gm.discriminator_loss_terms(config, model)["discriminator_loss"],
            )
        with _v1.Session() as sess:
            values = sess.run(tensors)
    for name in gm.LOSS_NAMES:
        np.testing.assert_allclose(values[name], expected[name], rtol=1e-5, err_msg=name)


def test_mutual_information_penalty_hand_computed_and_equal_to_tfgan() -> None:
    config = gm.GANConfig(gan_type="infogan", mutual_information_penalty_weight=0.5)
    cat_logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], np.float32)
    codes = np.array([0, 2], np.int32)
    mu, cont = (np.array([[0.5], [-1.0]], np.float32), np.array([[0.0], [1.0]], np.float32))
    logits = np.array([[0.3], [-0.7]], np.float32)
    log_softmax = cat_logits - np.log(np.exp(cat_logits).sum(1, keepdims=True))
    log_p_cat = log_softmax[np.arange(2), codes].mean()
    log_p_cont = (-0.5 * (cont - mu) ** 2 - 0.5 * np.log(2 * np.pi)).mean()
    mi = -(log_p_cat + log_p_cont) / 2  # TF-GAN averages over the structured codes.
    adversarial = _sigmoid_ce(logits, 1.0).mean()
    with tf.Graph().as_default():
        _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
        base = _fake_model(logits, logits)
        dists = [
            tfp.distributions.Categorical(logits=tf.constant(cat_logits)),
            tfp.distributions.Normal(loc=tf.constant(mu), scale=tf.ones_like(mu)),
        ]
        model = tfgan.InfoGANModel(
            *base,
            structured_generator_inputs=[tf.constant(codes), tf.constant(cont)],
            predicted_distributions=dists,
            discriminator_and_aux_fn=None,
        )
        terms = gm.generator_loss_terms(config, model)
        ours = terms["generator_loss"]
        reference = tfgan.losses.modified_generator_loss(model) + 0.5 * (
            tfgan.losses.mutual_information_penalty(model)
        )
        ours_d = gm.discriminator_loss_terms(config, model)["discriminator_loss"]
        reference_d = tfgan.losses.modified_discriminator_loss(model) + (
            0.5 * tfgan.losses.mutual_information_penalty(model)
        )
        with _v1.Session() as sess:
            got, info = sess.run(
                [[ours, reference, ours_d, reference_d], terms["mutual_information_penalty"]]
            )
    np.testing.assert_allclose(got[0], adversarial + 0.5 * mi, rtol=1e-5)
    assert np.float32(got[0]).tobytes() == np.float32(got[1]).tobytes()
    assert np.float32(got[2]).tobytes() == np.float32(got[3]).tobytes()
    np.testing.assert_allclose(info, mi, rtol=1e-5)


def test_gradient_penalty_matches_tfgan_and_hand_computed(monkeypatch: Any) -> None:
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
    fake = rng.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
    alpha = np.array([0.1, 0.5, 0.9], np.float32).reshape(3, 1, 1, 1)

    def discriminator_fn(data: tf.Tensor, conditioning: Any) -> tf.Tensor:
        del conditioning  # D(x) = 0.5 * |x|^2 (per example): gradient x.
        return 0.5 * tf.reduce_sum(tf.square(data), axis=[1, 2, 3])

    x_hat = real + alpha * (fake - real)
    slopes = np.sqrt((x_hat.astype(np.float64) ** 2).sum(axis=(1, 2, 3)) + 1e-10)
    expected = ((slopes - 1.0) ** 2).mean()
    with tf.Graph().as_default():
        _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
        with _v1.variable_scope("Discriminator") as scope:
            pass
        model = tfgan.GANModel(
            None,
            tf.constant(fake),
            None,
            None,
            None,
            tf.constant(real),
            None,
            None,
            None,
            scope,
            discriminator_fn,
        )
        ours = gm.gradient_penalty(model, alpha=tf.constant(alpha))
        # TF-GAN's version with its unseeded draw replaced by the same fixed alpha.
        monkeypatch.setattr(tf.random, "uniform", lambda shape, **_: tf.constant(alpha))
        reference = tfgan.losses.wasserstein_gradient_penalty(model)
        with _v1.Session() as sess:
            got_ours, got_reference = sess.run([ours, reference])
    np.testing.assert_allclose(got_ours, expected, rtol=1e-5)
    assert np.float32(got_ours).tobytes() == np.float32(got_reference).tobytes()


def test_interpolation_weights_are_stateless_in_seed_batch_and_micro_batch() -> None:
    def draw(seeds: SeedTree | int, batch: int, micro: int = 0) -> bytes:
        if isinstance(seeds, int):
            seeds = SeedTree.from_root(seeds, gm.SEED_NAMES)
        out = gm.interpolation_weights(
            gm.GANConfig(seeds=seeds), 5, tf.constant(batch, tf.int64), micro
        )
        assert out.shape == (5, 1, 1, 1)
        assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) < 1.0
        return out.numpy().tobytes()

    assert draw(1, 3) == draw(1, 3)
    assert draw(1, 3) != draw(1, 4)
    assert draw(1, 3) != draw(2, 3)
    assert draw(1, 3, 1) != draw(1, 3, 0)
    assert draw(1, 3, 1) == draw(1, 3, 1)
    # Keyed by the gradient_penalty sub-seed alone.
    one, two = SeedTree.from_root(1, gm.SEED_NAMES), SeedTree.from_root(2, gm.SEED_NAMES)
    assert draw(_with(two, gradient_penalty=one.gradient_penalty), 3) == draw(1, 3)
    assert draw(_with(one, gradient_penalty=two.gradient_penalty), 3) == draw(2, 3)


@pytest.mark.parametrize("gan_type", gm.GAN_TYPES)
def test_training_features_per_micro_batch(gan_type: str) -> None:
    """Micro-batch i's noise depends on (seed, batch, i) only: a range of the micro-batches
    is bitwise those rows of the full features, and M=1 is one draw of all rows."""
    config = _config(3, gan_type=gan_type, micro_batches=4)
    labels = tf.one_hot(tf.range(8) % 10, 10) if gan_type == "conditional" else None

    def features(micro_range: Any = None, batch: int = 9, rows: Any = None) -> list:
        out = gm.training_features(
            config,
            batch_size=8,
            batch_index=tf.constant(batch, tf.int64),
            one_hot_labels=None if labels is None else labels[rows or slice(None)],
            micro_range=micro_range,
        )
        assert int(out["batch_index"]) == batch
        return [x.numpy() for x in tf.nest.flatten(out["generator_inputs"])]

    full = features()
    assert all(x.shape[0] == 8 for x in full)
    middle = features((1, 3), rows=slice(2, 6))
    assert all(np.array_equal(a, b[2:6]) for a, b in zip(middle, full, strict=True))
    assert not np.array_equal(features(batch=10)[0], full[0])
    assert not np.array_equal(full[0][:2], full[0][2:4])  # Micro-batches draw independently.
    with pytest.raises(ValueError, match="micro_batches 4 must divide the batch size 6"):
        gm.training_features(config, batch_size=6, batch_index=0)
    with pytest.raises(ValueError, match="micro_range"):
        gm.training_features(config, batch_size=8, batch_index=0, micro_range=(3, 5))


def test_width_divisor_keeps_the_graph_and_shrinks_the_weights() -> None:
    """What the small test networks (width_divisor=16) stand in for: the same ops in the
    same numbers, every width divided."""
    from tf_determinism import graph_audit

    censuses, sizes = [], []
    for divisor in (1, 16):
        with tf.Graph().as_default() as graph:
            _v1.set_random_seed(0)  # as the Estimator does: op determinism wants one
            config = _config(3, gan_type="conditional", width_divisor=divisor)
            inputs = tf.nest.map_structure(tf.constant, gm.sample_generator_inputs(config, 2, 3))
            with _v1.variable_scope("Generator"):
                images = networks.generator(inputs, config, is_training=True)
            with _v1.variable_scope("Discriminator"):
                networks.critic(images, inputs, config)
            # (TF builds the zeros of a large variable with Fill, of a small one as a Const.)
            censuses.append(
                {
                    op: n
                    for op, n in graph_audit.op_census(graph).items()
                    if op not in ("Const", "Fill")
                }
            )
            sizes.append(sum(v.shape.num_elements() for v in _v1.trainable_variables()))
    assert censuses[0] == censuses[1]
    assert sizes[0] == 15_105_378 and sizes[1] < sizes[0] / 100
    with pytest.raises(ValueError, match="width_divisor must be one of"):
        _config(width_divisor=3)
