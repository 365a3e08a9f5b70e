"""`manifest.json`: the bits of every checkpoint a run wrote, and of every losses.csv row, hashed.

One entry per checkpoint, in step order, written when the checkpoint is complete and never
rewritten (a checkpoint that `--keep_checkpoint_max` deletes later keeps its entry):

    step      the global step
    tensors   {tensor name: sha256 of its dtype, shape and bytes}
    root      sha256 over the sorted "name digest" lines: the checkpoint in one hash
    rows      sha256 of each losses.csv row (its exact line) after the previous entry's step
    chain     rows chained: chain = sha256(previous chain + row digest), from sha256(header)

and the run's identity (run.json's `identity` and `app`), so a manifest cannot be read as
another run's. The overall root chains every entry's (step, root, chain): one hash a paper can
cite for the whole run. No TensorFlow here (the tensors' digests are given).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from tf_determinism import write_json_atomic

MANIFEST_JSON = "manifest.json"
FORMAT = "reproducible-manifest/1"


class ManifestError(ValueError):
    """A manifest that cannot be read, or an entry that would rewrite another (one line)."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tensors_root(tensors: Mapping[str, str]) -> str:
    """The checkpoint in one hash: sha256 of its sorted "name digest" lines."""
    return sha256("".join(f"{name} {digest}\n" for name, digest in sorted(tensors.items())))


def chain(previous: str, row_digests: Sequence[str]) -> str:
    """`previous` extended by each row digest in turn."""
    for digest in row_digests:
        previous = sha256(previous + digest)
    return previous


def run_identity(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a manifest belongs to: run.json's app and identity."""
    return {"app": record.get("app"), "identity": record.get("identity")}


def identity_digest(record: Mapping[str, Any]) -> str:
    """sha256 of a run.json's app and identity."""
    return sha256(json.dumps(run_identity(record), sort_keys=True))


@dataclasses.dataclass(frozen=True)
class Entry:
    """One checkpoint's bits and the losses.csv rows up to its step (see the module docstring)."""

    step: int
    tensors: dict[str, str]
    rows: list[str]
    chain: str

    @property
    def root(self) -> str:
        return tensors_root(self.tensors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "root": self.root,
            "chain": self.chain,
            "rows": list(self.rows),
            "tensors": dict(self.tensors),
        }


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A run's manifest: its identity digest (and the identity itself, `run`, for messages),
    its header's digest and its entries, by step."""

    identity: str
    header: str
    entries: list[Entry]
    run: dict[str, Any] = dataclasses.field(default_factory=dict)

    def entry(self, step: int) -> Entry | None:
        return next((e for e in self.entries if e.step == step), None)

    def last_chain(self, before: int) -> tuple[int, str]:
        """(step, chain) of the last entry before step `before`; (-1, the header's digest) when
        there is none."""
        earlier = [e for e in self.entries if e.step < before]
        return (earlier[-1].step, earlier[-1].chain) if earlier else (-1, self.header)

    @property
    def root(self) -> str:
        """The overall root: every entry's step, root and chain, chained in step order."""
        return chain(self.identity, [sha256(f"{e.step} {e.root} {e.chain}") for e in self.entries])

    def row_digests(self) -> dict[int, str]:
        """{step: row digest} of every row the manifest covers."""
        digests: dict[int, str] = {}
        for entry in self.entries:  # an entry's rows are the steps up to its own
            steps = range(entry.step - len(entry.rows) + 1, entry.step + 1)
            digests.update(zip(steps, entry.rows, strict=True))
        return digests


def read_manifest(model_dir: str) -> Manifest | None:
    """model_dir's manifest, None when it has none.

    Raises:
      ManifestError: not a manifest this code wrote (names the file and what is wrong).
    """
    path = os.path.join(model_dir, MANIFEST_JSON)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        entries = [
            Entry(int(e["step"]), dict(e["tensors"]), list(e["rows"]), str(e["chain"]))
            for e in data["entries"]
        ]
        manifest = Manifest(
            str(data["identity"]), str(data["header"]), entries, dict(data.get("run", {}))
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ManifestError(f"{path}: not a {FORMAT} manifest ({type(e).__name__}: {e})") from None
    if data.get("format") != FORMAT:
        raise ManifestError(f"{path}: not a {FORMAT} manifest")
    return manifest


def write_manifest(model_dir: str, manifest: Manifest) -> None:
    """Writes the whole manifest atomically (the old one or the new one, never a mix)."""
    write_json_atomic(
        os.path.join(model_dir, MANIFEST_JSON),
        {
            "format": FORMAT,
            "identity": manifest.identity,
            "run": manifest.run,
            "header": manifest.header,
            "root": manifest.root,
            "entries": [e.as_dict() for e in manifest.entries],
        },
    )


def add_entry(model_dir: str, record: Mapping[str, Any], header: str, entry: Entry) -> bool:
    """Adds `entry` to model_dir's manifest (made if missing). An entry of that step already
    there is kept: an equal one (a resume re-saves its checkpoint) is not written again.

    Returns:
      True when the manifest changed.

    Args:
      record: the run's run.json content (its identity).

    Raises:
      ManifestError: the manifest is of another run, or holds another entry for the step.
    """
    identity = identity_digest(record)
    manifest = read_manifest(model_dir) or Manifest(identity, header, [], run_identity(record))
    if manifest.identity != identity:
        raise ManifestError(
            f"{model_dir}/{MANIFEST_JSON} is the manifest of another run "
            "(its identity differs from run.json's)"
        )
    old = manifest.entry(entry.step)
    if old is not None:
        if old != entry:
            raise ManifestError(
                f"{model_dir}: checkpoint {entry.step} differs from its manifest "
                f"entry of an earlier session (root {old.root[:16]}, now "
                f"{entry.root[:16]}): the run did not reproduce itself"
            )
        return False
    entries = sorted([*manifest.entries, entry], key=lambda e: e.step)
    write_manifest(model_dir, dataclasses.replace(manifest, entries=entries))
    return True
