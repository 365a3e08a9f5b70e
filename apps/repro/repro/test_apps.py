"""The registry (apps/repro/repro/apps.py) and the app folders agree: every `apps/<name>/` with a
train.py is registered, holds every file an app needs, declares its APP and its quick settings;
and the README's "Add an experiment" checklist names exactly those files. Each problem is one
line naming the file to edit."""

from __future__ import annotations

import ast
import os
import re

import pytest

from repro.apps import REGISTERED
from repro_experiment import App

REGISTRY = "apps/repro/repro/apps.py"
# The files of an app folder, besides its own modules and tests (README "Add an experiment").
REQUIRED = (
    "apps/{name}/BUILD",
    "apps/{name}/{name}/BUILD",
    "apps/{name}/{name}/__init__.py",
    "apps/{name}/{name}/options.py",
    "apps/{name}/{name}/train.py",
    "apps/{name}/{name}/train_lib.py",
)
TOOLS = ("repro",)  # folders under apps/ that hold a tool, not an app


def _root() -> str:
    """The repository root (the test runs in a sandbox holding the app folders' files)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(os.path.dirname(here)))


def _app_folders(root: str) -> list[str]:
    apps = os.path.join(root, "apps")
    return sorted(
        name
        for name in os.listdir(apps)
        if name not in TOOLS and os.path.isfile(os.path.join(apps, name, name, "train.py"))
    )


def problems(root: str, registered: dict[str, App]) -> list[str]:
    """One line per problem, each naming the file to edit."""
    found = []
    for name in _app_folders(root):
        if name not in registered:
            found.append(
                f"apps/{name}: not in the registry; add `import {name}.train` to {REGISTRY}"
            )
    for name, app in registered.items():
        for required in REQUIRED:
            path = required.format(name=name)
            if not os.path.isfile(os.path.join(root, path)):
                found.append(f'{path}: missing (README "Add an experiment")')
        build = os.path.join(root, "apps", name, "BUILD")
        if os.path.isfile(build) and f'python_source(name="{name}"' not in open(build).read():
            found.append(
                f'apps/{name}/BUILD: lacks `python_source(name="{name}", source="{name}/'
                f'train.py")`, what `./pants run apps/{name}` runs'
            )
        if app.module != f"{name}.train":
            found.append(f"apps/{name}/{name}/train.py: APP is named {app.name!r}, not {name!r}")
        if not app.options.QUICK:
            found.append(
                f"apps/{name}/{name}/options.py: {app.options.__name__} declares no QUICK "
                "settings (its smallest model and batch, results of seconds)"
            )
    return found


def test_every_app_folder_is_registered_and_whole() -> None:
    assert problems(_root(), REGISTERED) == []


def test_a_missing_app_is_named_with_the_file_to_edit(tmp_path) -> None:
    for required in REQUIRED:
        path = tmp_path / required.format(name="mnist_vae")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('python_source(name="mnist_vae")\n' if path.name == "BUILD" else "")
    (tmp_path / "apps" / "text_lm" / "text_lm").mkdir(parents=True)
    (tmp_path / "apps" / "text_lm" / "text_lm" / "train.py").write_text("")
    assert problems(str(tmp_path), {"text_lm": REGISTERED["text_lm"]}) == [
        "apps/mnist_vae: not in the registry; add `import mnist_vae.train` to "
        "apps/repro/repro/apps.py",
        'apps/text_lm/BUILD: missing (README "Add an experiment")',
        'apps/text_lm/text_lm/BUILD: missing (README "Add an experiment")',
        'apps/text_lm/text_lm/__init__.py: missing (README "Add an experiment")',
        'apps/text_lm/text_lm/options.py: missing (README "Add an experiment")',
        'apps/text_lm/text_lm/train_lib.py: missing (README "Add an experiment")',
    ]


def test_the_registry_is_one_import_per_app() -> None:
    with open(os.path.join(_root(), REGISTRY), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    imported = [
        alias.name
        for node in tree.body
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.endswith(".train")
    ]
    assert imported == [f"{name}.train" for name in REGISTERED]


def _checklist(readme: str) -> list[str]:
    """The app-folder paths the README's "Add an experiment" section names, in order."""
    section = readme.split("\n## Add an experiment\n", 1)[1].split("\n## ", 1)[0]
    paths = re.findall(r"`(apps/[^`\s]+)`", section)
    return [p for p in paths if not p.endswith("/") and ("<name>" in p or p == REGISTRY)]


def test_the_readme_checklist_names_the_files_the_registry_test_demands() -> None:
    with open(os.path.join(_root(), "README.md"), encoding="utf-8") as f:
        named = _checklist(f.read())
    demanded = [*REQUIRED, REGISTRY]
    assert sorted(set(named)) == sorted(p.format(name="<name>") for p in demanded), named


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_every_app_declares_quick_data(name: str, tmp_path) -> None:
    flags = REGISTERED[name].quick_data_flags(str(tmp_path))
    assert flags and all(flag.startswith("--") and "=" in flag for flag in flags)
