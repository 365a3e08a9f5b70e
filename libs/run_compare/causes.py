"""Why two runs' bits differ: the recorded fields that can change bits, most likely first.

`repro compare` lists these when losses or weights differ, so a user reads "A used AVX2, B
AVX-512" instead of only "differ at step 1". The order is what this project has measured to
matter: the machine architecture, the run identity (seed, model, data, numerics pins), then
the ISA oneDNN actually dispatched to, the numerics environment TF saw, library versions and
code, and last the CPU itself (its ISA extensions, cache sizes and core counts, which steer
oneDNN's and Eigen's blocking even under the same ISA).
"""

from __future__ import annotations

from run_compare.run_json_diff import FieldDiff

# (dotted-path prefix, what it means), most likely cause first.
_CAUSES: tuple[tuple[str, str], ...] = (
    # Measured (README "Where the same bits hold"): x86-64 and aarch64 round matmuls, conv
    # gradients, inner-axis sums and transcendentals differently, so it outranks everything.
    ("host.machine", "the machine architecture (x86-64 and aarch64 kernels round differently)"),
    (
        "identity.numerics.numerics",
        "the numerics mode (fast: TF's kernels, which round "
        "otherwise on another architecture; portable: the same bits "
        "on x86-64 and aarch64)",
    ),
    ("identity.random_seed", "the seed"),
    ("identity.numerics.cpu_isa", "the cpu_isa pin (instruction set oneDNN may use)"),
    ("identity.numerics", "a numerics pin"),
    ("identity.model", "the model options"),
    ("identity.data", "the data or its stream"),
    ("identity", "the run identity"),
    (
        "graph_ops",
        "the ops in the graph (one whose kernel is approximate follows the CPU "
        "vendor: tf_determinism.graph_audit)",
    ),
    ("host.onednn_isa", "the instruction set oneDNN dispatched to"),
    ("host.onednn_threads", "the thread pool oneDNN ran on"),
    ("determinism.environment", "the numerics environment TF saw"),
    ("determinism", "TF's determinism settings"),
    ("versions", "a library version"),
    ("git_commit", "the code (git commit)"),
    ("host.cpu.isa_levels", "the CPU's instruction sets"),
    ("host.cpu.isa_flags", "the CPU's instruction sets"),
    ("host.cpu.caches", "the CPU's cache sizes (oneDNN/Eigen blocking)"),
    ("host.cpu.model_name", "the CPU model"),
    ("host.cpu.family_model_stepping", "the CPU model"),
    (
        "host.cpu.vendor",
        "the CPU vendor (its rcpps/rsqrtps tables, for a graph with an approximate kernel)",
    ),
    ("host.cpu.emulated_on", "an emulated CPU (qemu)"),
    ("host.cpu.sve_vector_bits", "the SVE vector length (aarch64 kernels block by it)"),
    ("host.cpu.midr", "the CPU model"),
    ("host.cpu", "the CPU's cores"),
)


# The ops a resumed run's input adds to its train graph when it resumes inside an epoch
# (seeded_input's shuffled_windows with skip > 0): a SkipDataset and the arithmetic of where to
# start. A census that differs in these alone says one run resumed, not that it computed
# otherwise.
RESUME_OPS = frozenset({"SkipDataset", "Const", "Equal", "Mul", "Pack", "SelectV2", "StridedSlice"})


def _resume_census(fields: list[FieldDiff]) -> list[FieldDiff]:
    """The graph_ops fields that only say one run resumed (empty when neither did)."""
    census = [f for f in fields if f.path.startswith("graph_ops.")]
    if not any(f.path.endswith(".SkipDataset") for f in census):
        return []
    return [f for f in census if f.path.rsplit(".", 1)[1] in RESUME_OPS]


def _rank(path: str) -> int | None:
    for rank, (prefix, _) in enumerate(_CAUSES):
        if path == prefix or path.startswith(prefix + "."):
            return rank
    return None


def likely_causes(fields: list[FieldDiff]) -> list[tuple[str, FieldDiff]]:
    """The differing run.json fields that can change bits, as (meaning, field), most likely
    first (paths, argv, host names and timings are left out: they change no number, and so
    is the census of what a resume adds to a train graph)."""
    resumed = _resume_census(fields)
    ranked = [
        (rank, field.path, field)
        for field in fields
        if (rank := _rank(field.path)) is not None and field not in resumed
    ]
    return [(_CAUSES[rank][1], field) for rank, _, field in sorted(ranked, key=lambda r: r[:2])]
