"""check_int: the one int-argument check (no TensorFlow)."""

from __future__ import annotations

import pytest

from tf_determinism import check_int


def test_an_int_at_or_above_the_minimum_is_returned() -> None:
    assert check_int("n", 1) == 1
    assert check_int("seed", 0, minimum=0) == 0
    assert check_int("big", 2**70) == 2**70


@pytest.mark.parametrize("value", [0, -1, True, False, 2.0, "3", None])
def test_anything_else_is_refused_in_one_format(value: object) -> None:
    with pytest.raises(ValueError) as info:
        check_int("GANConfig.noise_dims", value)
    assert str(info.value) == f"GANConfig.noise_dims must be an int >= 1, got {value!r}"
