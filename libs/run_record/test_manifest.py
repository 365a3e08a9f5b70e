"""run_record.manifest: entries, chained rows, the overall root, and no entry rewritten."""

from __future__ import annotations

import pytest

from run_record import manifest

RECORD = {"app": "a", "identity": {"random_seed": 1}}


def _entry(step: int, rows: list[str], previous: str, w: str = "w1") -> manifest.Entry:
    digests = [manifest.sha256(r) for r in rows]
    return manifest.Entry(
        step, {"w": manifest.sha256(w)}, digests, manifest.chain(previous, digests)
    )


def test_entries_chain_the_rows_and_the_root_changes_with_any_bit(tmp_path) -> None:
    header = manifest.sha256("step,loss")
    first = _entry(0, [], header)
    second = _entry(2, ["1,0.5", "2,0.25"], first.chain)
    assert manifest.add_entry(str(tmp_path), RECORD, header, first)
    assert manifest.add_entry(str(tmp_path), RECORD, header, second)
    assert not manifest.add_entry(str(tmp_path), RECORD, header, second)  # a resume: the same
    read = manifest.read_manifest(str(tmp_path))
    assert read is not None and read.entries == [first, second]
    assert read.row_digests() == {1: manifest.sha256("1,0.5"), 2: manifest.sha256("2,0.25")}
    assert read.last_chain(2) == (0, first.chain) and read.last_chain(0) == (-1, header)
    assert first.chain == header and second.chain == manifest.chain(
        manifest.chain(header, [manifest.sha256("1,0.5")]), [manifest.sha256("2,0.25")]
    )
    other = manifest.Manifest(
        read.identity, header, [first, _entry(2, ["1,0.5", "2,0.25"], first.chain, "w2")]
    )
    assert other.root != read.root


def test_no_entry_is_rewritten_and_another_runs_manifest_is_refused(tmp_path) -> None:
    header = manifest.sha256("step,loss")
    manifest.add_entry(str(tmp_path), RECORD, header, _entry(0, [], header))
    with pytest.raises(
        manifest.ManifestError,
        match="checkpoint 0 differs from its manifest entry of an earlier session",
    ):
        manifest.add_entry(str(tmp_path), RECORD, header, _entry(0, [], header, "w2"))
    other = {"app": "a", "identity": {"random_seed": 2}}
    with pytest.raises(manifest.ManifestError, match="the manifest of another run"):
        manifest.add_entry(str(tmp_path), other, header, _entry(1, ["1,0"], header))
    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(manifest.ManifestError, match="not a reproducible-manifest/1 manifest"):
        manifest.read_manifest(str(tmp_path))
