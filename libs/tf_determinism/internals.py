"""Every private TensorFlow, Estimator and TF-GAN name the project uses, in one place.

Each is a name the locked stack (TensorFlow 2.15.1, tensorflow-estimator 2.15, TF-GAN 2.1.0)
has and no public API offers. Another version may rename or drop it: each accessor then raises
`InternalsChanged`, one line naming the name, what it is for and the versions found, instead
of an AttributeError deep in a run. `check_versions()` says in one line whether the installed
versions are the locked ones.

  collective_ops()              TF's collective ops module (all_gather, all_gather_v2,
                                all_to_all_v2)
  is_op_determinism_enabled()   tf.config has only the setter in 2.15
  make_lost_peer_final()        monitored_session._PREEMPTION_ERRORS: a lost peer must not be
                                "recovered" by re-creating the session (it hangs)
  with_master(run_config, t)    RunConfig._master: run an Estimator on a given gRPC server
  wrap_model_fn(estimator, f)   Estimator._model_fn: build every graph of an Estimator through
                                f(model_fn) (the Keras initializers seeded by the run)
  tfgan_predict_spec(...)       TF-GAN's estimator internals for the generator's predictions
  install_getargspec_shim()     inspect.getargspec, which TF-GAN 2.1.0 calls and Python 3.11
                                removed
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib import metadata
from typing import Any, NamedTuple

LOCKED = {"tensorflow-cpu": "2.15.1", "tensorflow-estimator": "2.15.0", "tensorflow-gan": "2.1.0"}


class InternalsChanged(RuntimeError):
    """A private name this project relies on is not where the locked versions have it."""


def _installed(dist: str) -> str | None:
    for name in (dist, "tensorflow") if dist == "tensorflow-cpu" else (dist,):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def check_versions() -> str | None:
    """None when the installed stack is the locked one; else one line saying which differ."""
    found = {dist: _installed(dist) for dist in LOCKED}
    changed = [
        f"{dist} {found[dist]} (locked {want})"
        for dist, want in LOCKED.items()
        if found[dist] != want
    ]
    if not changed:
        return None
    return (
        f"tf_determinism.internals relies on private names of the locked stack, and here "
        f"{', '.join(changed)}: they may have moved (see tf_determinism/internals.py)"
    )


def _changed(what: str, purpose: str) -> InternalsChanged:
    return InternalsChanged(
        f"{what} ({purpose}) is gone: "
        f"{check_versions() or 'though the locked versions are installed'}"
    )


def _module(module: str, purpose: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _changed(module, purpose) from None


def _get(module: str, name: str, purpose: str) -> Any:
    try:
        return getattr(_module(module, purpose), name)
    except AttributeError:
        raise _changed(f"{module}.{name}", purpose) from None


def collective_ops() -> Any:
    """tensorflow.python.ops.collective_ops (graph-mode collectives between processes)."""
    return _module("tensorflow.python.ops.collective_ops", "collectives between processes")


def is_op_determinism_enabled() -> bool:
    """Whether TF's op determinism is on (tf.config has only the setter in TF 2.15)."""
    return bool(
        _get(
            "tensorflow.python.framework.config",
            "is_op_determinism_enabled",
            "reading the op-determinism setting",
        )()
    )


def make_lost_peer_final() -> None:
    """Process-wide: MonitoredSession no longer treats a peer's UnavailableError as a
    preemption to recover from by re-creating the session (after a collective error the
    collective executor stays aborted, and the session re-creation loops or hangs)."""
    purpose = "MonitoredSession's preemption recovery"
    module = _module("tensorflow.python.training.monitored_session", purpose)
    if not hasattr(module, "_PREEMPTION_ERRORS"):
        raise _changed("monitored_session._PREEMPTION_ERRORS", purpose)
    module._PREEMPTION_ERRORS = ()


def with_master(run_config: Any, target: str) -> Any:
    """`run_config` whose Estimator sessions run on the gRPC server `target` (RunConfig has no
    setter for its master; Estimator reads `.master`)."""
    if not hasattr(run_config, "_master"):
        raise _changed("tf.estimator.RunConfig._master", "the session target of a cluster task")
    config = run_config.replace()
    config._master = target
    return config


def wrap_model_fn(estimator: Any, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Any:
    """`estimator`, whose model_fn is now wrap(its model_fn) (Estimator has no setter; it calls
    `._model_fn`, passing the arguments its signature names)."""
    if not callable(getattr(estimator, "_model_fn", None)):
        raise _changed("tf.estimator.Estimator._model_fn", "building an Estimator's graphs")
    estimator._model_fn = wrap(estimator._model_fn)
    return estimator


def tfgan_predict_spec(features: Any, generator_fn: Callable[[Any], Any], scope: str) -> Any:
    """The EstimatorSpec of TF-GAN's GANEstimator for PREDICT (generated images of the
    features), from its estimator internals (no public builder)."""
    lib = _get(
        "tensorflow_gan.python.estimator.gan_estimator",
        "make_prediction_gan_model",
        "GANEstimator's predict model",
    )
    spec = _get(
        "tensorflow_gan.python.estimator.gan_estimator",
        "get_predict_estimator_spec",
        "GANEstimator's predict spec",
    )
    return spec(lib(features, generator_fn, scope))


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


def install_getargspec_shim() -> None:
    """Installs `inspect.getargspec` if this interpreter lacks it (Python >= 3.11): TF-GAN
    2.1.0's `gan_loss` (and its StarGAN/TPU estimators) call it, and read only `.args` and
    `.keywords`. Idempotent; a no-op where getargspec exists."""
    if not hasattr(inspect, "getargspec"):
        setattr(inspect, "getargspec", _getargspec)  # noqa: B010 (mypy rejects plain assignment)
