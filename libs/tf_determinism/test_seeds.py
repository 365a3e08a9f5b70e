"""tf_determinism's seed tree: derive_seed (pinned values), SeedTree.from_root with the names an
app declares (no TensorFlow)."""

import dataclasses
import hashlib
import json

import pytest

from tf_determinism import SeedTree, derive_seed

SUB_SEEDS = ("data", "init", "noise", "dropout", "gradient_penalty", "samples", "eval")


def test_derive_seed_pinned_and_distinct() -> None:
    # Pinned values: a change here silently changes every initial weight, every batch order and
    # every noise draw of every run.
    assert derive_seed(123, "x") == 5806491344033100490
    assert derive_seed(123, "init", "Generator/fc1/kernel") == 6557874644948876177
    # The documented derivation: sha256 of the JSON list [seed, *names], 63 bits.
    digest = hashlib.sha256(json.dumps([123, "x"]).encode("utf-8")).digest()
    assert derive_seed(123, "x") == int.from_bytes(digest[:8], "big") >> 1
    assert derive_seed(123, "x") == derive_seed(123, "x")
    assert derive_seed(123, "x") != derive_seed(124, "x")
    assert derive_seed(123, "x") != derive_seed(123, "y")
    assert derive_seed(1, "2") != derive_seed(1, 2)
    assert derive_seed(1, "a", "b") != derive_seed(1, "ab")
    assert derive_seed(1, "a", "b") != derive_seed(1, "b", "a")
    assert derive_seed(1) != derive_seed(1, "")
    names: tuple[str | int, ...] = ("a", "b", 0, 1)
    values = {derive_seed(seed, name) for seed in range(50) for name in names}
    assert len(values) == 200 and all(0 <= v < 2**63 for v in values)
    assert max(values) >= 2**62  # all 63 bits are used
    assert derive_seed(2**100, "x") >= 0  # any non-negative int root


@pytest.mark.parametrize("seed", [-1, 1.5, True, "1", None])
def test_derive_seed_rejects_bad_seeds(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        derive_seed(seed, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [1.5, None, True, ("a",)])
def test_derive_seed_rejects_bad_names(name: object) -> None:
    with pytest.raises(ValueError, match="names"):
        derive_seed(1, name)  # type: ignore[arg-type]


def test_seed_tree_from_root_with_the_names_an_app_declares() -> None:
    tree = SeedTree.from_root(123, SUB_SEEDS)
    assert tree.root == 123 and list(tree.sub_seeds) == list(SUB_SEEDS)
    for name in SUB_SEEDS:
        assert getattr(tree, name) == derive_seed(123, name), name
    subs = list(tree.sub_seeds.values())
    assert len(set(subs)) == len(subs) and 123 not in subs
    assert all(isinstance(s, int) and 0 <= s < 2**63 for s in subs)
    # Deterministic, and another root moves every sub-seed.
    assert SeedTree.from_root(123, SUB_SEEDS) == tree
    other = SeedTree.from_root(124, SUB_SEEDS)
    assert all(getattr(other, n) != getattr(tree, n) for n in SUB_SEEDS)
    # Pinned, as derive_seed above: a sub-seed is derived by its name alone, so another app's
    # set of names (or a new name) never moves it. The MNIST GAN's reference depends on it.
    assert tree.noise == 7050002304589188612
    assert SeedTree.from_root(123, ("noise",)).noise == tree.noise
    assert SeedTree.from_root(123, ("augment", "noise")).noise == tree.noise
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.root = 1  # type: ignore[misc]


def test_seed_tree_refuses_bad_roots_and_names_and_names_what_it_has() -> None:
    with pytest.raises(ValueError, match="root"):
        SeedTree.from_root(-1, ("data",))
    for names, message in [
        (("data", "data"), "appears twice"),
        (("Data",), "not a sub-seed"),
        (("root",), "not a sub-seed"),
        ((1,), "not a sub-seed"),
    ]:
        with pytest.raises(ValueError, match=message):
            SeedTree.from_root(1, names)  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="no sub-seed 'dropout' .it has data, init."):
        SeedTree.from_root(1, ("data", "init")).dropout  # noqa: B018
    assert SeedTree.from_root(1, ("a", "b")).has("a", "b")
    assert not SeedTree.from_root(1, ("a",)).has("a", "b")


def test_seed_tree_as_dict() -> None:
    tree = SeedTree.from_root(7, SUB_SEEDS)
    record = tree.as_dict()
    assert list(record) == ["root", *SUB_SEEDS]
    assert record == {"root": 7, **{n: derive_seed(7, n) for n in SUB_SEEDS}}
    assert json.loads(json.dumps(record)) == record  # run.json-ready
