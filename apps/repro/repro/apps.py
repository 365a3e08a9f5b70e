"""The apps every tool runs, each as `python -m <app>.train` in a fresh process (never
imported: "run it again" means a fresh interpreter). Their sources are in this tool's pex
(BUILD); an app added here and there is known to twice, check, compare and emulate."""

APPS = ("mnist_gan", "mnist_classifier", "text_lm")
DEFAULT_APP = "mnist_gan"


class UnknownAppError(ValueError):
    """An app name that is not one of APPS (one line)."""


def train_module(app: str) -> str:
    """`<app>.train`, the module a run starts.

    Raises:
      UnknownAppError: app is not one of APPS.
    """
    if app not in APPS:
        raise UnknownAppError(f"unknown app {app!r}; one of {', '.join(APPS)}")
    return f"{app}.train"
