"""Checks the repo's layering and isort's third-party list, from the sources themselves.

* Imports only run downwards: a library (libs/*) never imports an app (apps/*/*), and never a
  library above it in LAYERS; apps never import each other, but for the tools' registry
  (REGISTRY), which imports every app's train.py to know it.
* Every module the sources import that is neither the standard library's nor a package of this
  repo is in pyproject.toml's isort `known_third_party` list (isort runs in a sandbox of its own
  under Pants, where a module it does not know counts as first-party), and nothing else is.

Run by .ci/run: `python3.11 build-support/check_layers.py` (exit 1 naming each violation).
"""

from __future__ import annotations

import ast
import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "apps" / "repro" / "repro" / "apps.py"
# Lowest first; a library may import only libraries of a lower or the same layer.
LAYERS = (
    ("tf_determinism",),
    ("mnist_data", "seeded_input", "run_record"),
    ("gan_models", "mnist_eval", "run_compare"),
    ("repro_app",),
    # A dataset's input for the apps on it: extends the skeleton's data group; and several
    # processes for any app.
    ("mnist_input", "repro_cluster"),
    # The run itself, for every app (above the run's parts and the cluster).
    ("repro_experiment",),
)


def _packages() -> dict[str, pathlib.Path]:
    found = {p.name: p for p in (ROOT / "libs").iterdir() if (p / "__init__.py").is_file()}
    for app in (p for p in (ROOT / "apps").iterdir() if p.is_dir()):
        found.update({p.name: p for p in app.iterdir() if (p / "__init__.py").is_file()})
    return found


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def main() -> int:
    packages = _packages()
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    apps = {name for name, path in packages.items() if path.parts[-3] == "apps"}
    problems = [
        f"libs/{name}: not in build-support/check_layers.py LAYERS"
        for name, path in packages.items()
        if name not in apps and name not in layer
    ]
    for name, path in sorted(packages.items()):
        for source in sorted(path.glob("*.py")):
            if source.name.startswith("test_") or source.name == "conftest.py":
                continue
            for imported in sorted(_imports(source) & set(packages) - {name}):
                where = source.relative_to(ROOT)
                if imported in apps and source != REGISTRY:
                    problems.append(f"{where}: imports the app {imported}")
                elif name in layer and layer.get(imported, -1) > layer[name]:
                    problems.append(f"{where}: imports {imported}, a library above it")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["isort"]["known_third_party"])
    sources = [
        p
        for p in ROOT.glob("**/*.py")
        if not {".git", "dist", "runs", "data"} & set(p.relative_to(ROOT).parts)
    ]
    local = set(packages) | {p.stem for p in sources}  # packages, and modules beside their importer
    modules: set[str] = set().union(*(_imports(p) for p in sources))
    third_party = modules - local - set(sys.stdlib_module_names)
    for missing in sorted(third_party - listed):
        problems.append(f"pyproject.toml: isort's known_third_party lacks {missing}")
    for extra in sorted(listed - third_party):
        problems.append(
            f"pyproject.toml: isort's known_third_party names {extra}, which nothing imports"
        )
    for problem in problems:
        print(f"check_layers: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_layers: OK ({len(packages)} packages, imports run downwards)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
