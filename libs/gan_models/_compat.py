"""Python 3.11 compatibility shim for TF-GAN 2.1.0.

TF-GAN 2.1.0 (`tensorflow_gan/python/train.py::gan_loss`, and the StarGAN/TPU estimators)
calls `inspect.getargspec`, which Python 3.11 removed: without this shim `tfgan.gan_loss`
raises `AttributeError: module 'inspect' has no attribute 'getargspec'`. TF-GAN only reads
`.args` and `.keywords` of the result, so a wrapper over `inspect.getfullargspec` that returns
the legacy 4-field `ArgSpec` is enough. `import gan_models` installs it (idempotent); it is a
no-op on interpreters that still have `getargspec`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple


class ArgSpec(NamedTuple):
    """The legacy `inspect.ArgSpec` layout that TF-GAN 2.1.0 unpacks."""

    args: list[str]
    varargs: str | None
    keywords: str | None
    defaults: tuple[Any, ...] | None


def _getargspec(func: Callable[..., Any]) -> ArgSpec:
    # Unlike the removed original, keyword-only arguments and annotations are tolerated: TF-GAN
    # uses the result only to decide which optional kwargs (`reduction`, `add_summaries`) to pass.
    spec = inspect.getfullargspec(func)
    return ArgSpec(spec.args, spec.varargs, spec.varkw, spec.defaults)


def install() -> None:
    """Installs `inspect.getargspec` if this interpreter lacks it (Python >= 3.11)."""
    if not hasattr(inspect, "getargspec"):
        setattr(inspect, "getargspec", _getargspec)  # noqa: B010 (mypy rejects plain assignment)
