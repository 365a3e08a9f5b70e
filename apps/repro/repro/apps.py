"""The registry: every app of this repository, one line each.

    import <name>.train

makes `apps/<name>/` known to every tool (twice, check, compare, emulate, verify), the contract
tests and the emulate tests, and puts it in this tool's environment (Pants infers that
dependency from the import). Each app's train.py declares its `APP` (a repro_experiment.App:
name, options, experiment); importing it imports no TensorFlow. The tools run an app as
`python -m <name>.train` in a fresh process, never in their own: "run it again" means a fresh
interpreter. `test_apps.py` fails, naming this file, if an app folder is missing here.
"""

import mnist_classifier.train
import mnist_gan.train
import text_lm.train
from repro_experiment import App


def _registered(names: dict[str, object]) -> dict[str, App]:
    """{name: App} of every app package imported above (sorted by name)."""
    found = {}
    for value in names.values():
        app = getattr(getattr(value, "train", None), "APP", None)
        if isinstance(app, App):
            found[app.name] = app
    return dict(sorted(found.items()))


REGISTERED: dict[str, App] = _registered(globals())
APPS = tuple(REGISTERED)
DEFAULT_APP = "mnist_gan"


class UnknownAppError(ValueError):
    """An app name that is not one of APPS (one line)."""


def app(name: str) -> App:
    """The registered app `name`.

    Raises:
      UnknownAppError: name is not one of APPS.
    """
    if name not in REGISTERED:
        raise UnknownAppError(f"unknown app {name!r}; one of {', '.join(APPS)}")
    return REGISTERED[name]


def train_module(name: str) -> str:
    """`<name>.train`, the module a run starts.

    Raises:
      UnknownAppError: name is not one of APPS.
    """
    return app(name).module
