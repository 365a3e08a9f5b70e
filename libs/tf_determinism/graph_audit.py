"""Refuses a graph holding an op whose bits depend on the CPU model, and a train graph holding a
stateful random op (imports TF).

What is denied, and how it was found (TF 2.15.1, tensorflow-cpu wheel, x86-64):
  * Kernels compiled with approximate instructions. A disassembly of libtensorflow_cc.so.2
    (`objdump -d`, every function holding `rcpps`/`rsqrtps`) names Eigen's packet code for
    rsqrt and inverse (the Rsqrt, Reciprocal and Inv kernels; the row-sum inverse of the CPU
    Softmax; the CPU FusedBatchNorm kernels; LRN; the Adagrad/Adadelta/RMSProp/ProximalAdagrad
    updates), and Eigen's atan, ndtri and Bessel functions. The first bits of rcpps/rsqrtps are
    the vendor's table (AMD's differ from Intel's); the Newton step keeps the difference. Only
    float32, float16 and bfloat16 use them (Eigen's double packets divide).
  * Two rewrites of Grappler's constant folding, which runs after this audit, on the built
    graph: a division whose numerator is a constant of ones becomes `Reciprocal`, and a
    division by a constant becomes a multiplication by its reciprocal, folded at session start
    by the same Reciprocal kernel. A scalar denominator is folded by Eigen's scalar path, which
    divides (exact); a vector one is not.
`sqrt` and division are correctly rounded on every IEEE CPU: `tf_determinism.exact` has the
replacements.

Stateful random ops (`RANDOM_OPS`: `tf.random.normal`, `tf.random.uniform`, Keras' `Dropout`,
TF1's default variable initializers, `tf.random.Generator`, ...) draw from a counter the process
keeps and no checkpoint holds: a resumed run draws the first step's numbers again, another
process its own, and an op seed (`seed=42`) gives every micro-batch the same numbers. In a train
graph (`audit(graph, training=True)`) they are refused, naming the stateless draw to use. `repro emulate` (apps/repro) is how a new model checks that nothing else in its
graph follows the CPU.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from tf_determinism.portable import EXACT_SCOPE as _EXACT_SCOPE

_APPROXIMATE_DTYPES = (tf.float32, tf.float16, tf.bfloat16)
_EXACT_NORMALIZE = "x / tf.sqrt(v) (tf_determinism.exact.l2_normalize, exact.batch_normalization)"
_DIVIDE = "divide the numerator itself (x / y), never x * (1 / y)"
_ADAM = "Adam (tf_determinism.optimizers.DeterministicAdam: sqrt and division)"


_CPU = "so its bits follow the CPU vendor"


@dataclasses.dataclass(frozen=True)
class Denial:
    """Why an op type is denied and what to build instead.

    Attributes:
      kernel: what the op does that is refused.
      replacement: what to build instead.
      consequence: what that does to the bits.
    """

    kernel: str
    replacement: str
    consequence: str = _CPU


def _training_ops(names: tuple[str, ...]) -> dict[str, Denial]:
    denial = Denial("Eigen's update uses rsqrt (rsqrtps)", _ADAM)
    return {
        f"{prefix}{name}": denial
        for name in names
        for prefix in ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")
    }


DENIED_OPS: dict[str, Denial] = {
    "Rsqrt": Denial("rsqrtps + a Newton step", _EXACT_NORMALIZE),
    "Reciprocal": Denial(
        "rcpps + a Newton step",
        _DIVIDE + "; for TF's Log/Log1p "
        "gradients build under tf_determinism.exact.exact_gradients()",
    ),
    "Inv": Denial("rcpps + a Newton step", _DIVIDE),
    "Softmax": Denial(
        "Eigen's CPU softmax multiplies by an rcpps inverse of the row sums",
        "tf_determinism.exact.softmax, or tf.nn.log_softmax",
    ),
    "LRN": Denial("rcpps and rsqrtps", "a normalization written with tf.sqrt and division"),
    **{
        name: Denial(
            "the CPU kernel uses rsqrt (rsqrtps)",
            "tf_determinism.exact.batch_normalization over tf.nn.moments",
        )
        for name in (
            "FusedBatchNorm",
            "FusedBatchNormV2",
            "FusedBatchNormV3",
            "FusedBatchNormGrad",
            "FusedBatchNormGradV2",
            "FusedBatchNormGradV3",
        )
    },
    **{
        name: Denial("Eigen's packet code uses rcpps", "compute it in float64")
        for name in ("Atan", "Atan2", "Ndtri", "Erfinv")
    },
    **{
        name: Denial("Eigen's packet code uses rsqrtps", "compute it in float64")
        for name in (
            "BesselI0",
            "BesselI0e",
            "BesselI1",
            "BesselI1e",
            "BesselK0",
            "BesselK0e",
            "BesselK1",
            "BesselK1e",
            "BesselJ0",
            "BesselJ1",
            "BesselY0",
            "BesselY1",
        )
    },
    **_training_ops(("Adagrad", "ProximalAdagrad", "Adadelta", "RMSProp", "CenteredRMSProp")),
}
_STATELESS = (
    "tf.random.stateless_* keyed by a named seed, the batch index and the micro-batch "
    "(seed=tf_determinism.stateless_key(ctx.seeds.<name>, features['batch_index'], micro))"
)
_DRAWS = Denial(
    "a stateful random op draws from a counter this process keeps",
    _STATELESS,
    "so a resumed run or another process draws other numbers (and an op seed gives every "
    "micro-batch the same ones)",
)
# Every stateful random op of TF 2.15.1's registry but tf.data's own (the skeleton's input is
# seeded; an app's batch_map is audited with the train graph).
RANDOM_OPS: dict[str, Denial] = {
    name: _DRAWS
    for name in (
        "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "TruncatedNormal",
        "ParameterizedTruncatedNormal", "RandomShuffle", "Multinomial", "RandomGamma",
        "RandomPoisson", "RandomPoissonV2", "RandomCrop", "StatefulRandomBinomial",
        "StatefulStandardNormal", "StatefulStandardNormalV2", "StatefulTruncatedNormal",
        "StatefulUniform", "StatefulUniformFullInt", "StatefulUniformInt", "RngReadAndSkip",
        "RngSkip", "NonDeterministicInts", "AllCandidateSampler", "FixedUnigramCandidateSampler",
        "LearnedUnigramCandidateSampler", "LogUniformCandidateSampler",
        "ThreadUnsafeUnigramCandidateSampler", "UniformCandidateSampler",
        "SampleDistortedBoundingBox", "SampleDistortedBoundingBoxV2", "RandomShuffleQueue",
        "RandomShuffleQueueV2", "Skipgram",
    )
}  # fmt: skip
# Layers by their default names (a name scope component): what they are, what replaces them.
_LAYERS = {
    "dropout": ("Keras' Dropout or tf.nn.dropout", "tf_determinism.layers.dropout(x, rate, key, "
                "tag), key = tf_determinism.stateless_key(ctx.seeds.dropout, "
                "features['batch_index'], micro)"),
    "layer_normalization": ("a Keras LayerNormalization", "tf_determinism.layers.layer_norm "
                            "(exact.layer_normalization: divides by tf.sqrt)"),
    "batch_normalization": ("a Keras BatchNormalization", "tf_determinism.exact."
                            "batch_normalization over tf.nn.moments (gan_models.layers."
                            "batch_norm is one)"),
}  # fmt: skip


# --- the portable numerics mode (`--numerics=portable`) ---------------------------------------

PORTABLE_PROOF = "apps/repro/repro/test_portable_emulated.py"
END_TO_END = "build-support/arm_emulated_check.sh (the GAN with --numerics=portable)"


@dataclasses.dataclass(frozen=True)
class Portable:
    """Why an op type is allowed in a portable graph, and the test that proves it.

    Attributes:
      why: what makes its bits the same on x86-64 and aarch64.
      proof: the test that compares them (an output of tf_determinism.portable_proof, run
        natively and under qemu-aarch64, or the end-to-end check).
      dtypes: its "T" must be one of these (None: any).
      scope: its float64 instances only inside this name scope (the portable ops' integer
        products and sums).
    """

    why: str
    proof: str
    dtypes: tuple[str, ...] | None = None
    scope: str | None = None


def _allow(names: str, why: str, proof: str, **kwargs: Any) -> dict[str, Portable]:
    return {name: Portable(why, proof, **kwargs) for name in names.split()}


_MOVES = "moves, selects, converts or compares values: no float arithmetic"
_IEEE = "one correctly rounded IEEE operation per element (no fused multiply-add)"
PORTABLE_OPS: dict[str, Portable] = {
    **_allow(
        "Identity IdentityN Reshape Squeeze ExpandDims Transpose ConcatV2 Pack Unpack Split "
        "SplitV Slice StridedSlice StridedSliceGrad Pad PadV2 BroadcastTo Fill ZerosLike "
        "OnesLike GatherV2 Shape ShapeN Size Rank Range Const StopGradient NoOp Bitcast "
        "BitwiseAnd BitwiseOr BitwiseXor LeftShift RightShift Equal NotEqual Less LessEqual "
        "Greater GreaterEqual IsNan IsInf IsFinite LogicalAnd LogicalOr LogicalNot SelectV2 "
        "Select Cast OneHot BroadcastGradientArgs Placeholder PlaceholderWithDefault If "
        "StatelessIf While StatelessWhile Enter Exit Merge Switch NextIteration LoopCond "
        "TensorArrayV3 TensorArrayWriteV3 TensorArrayReadV3 TensorArrayGatherV3 "
        "TensorArraySizeV3 TensorArrayScatterV3 TensorListReserve TensorListSetItem TensorListGetItem "
        "TensorListStack TensorListFromTensor TensorListLength TensorListElementShape ArgMax "
        "InvertPermutation MatrixBandPart",
        _MOVES, END_TO_END),
    **_allow(
        "VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp "
        "VarIsInitializedOp DestroyResourceOp SaveV2 RestoreV2 MergeV2Checkpoints "
        "ShardedFilename StringJoin ScalarSummary ImageSummary HistogramSummary MergeSummary "
        "ParseExampleV2 DecodeRaw IteratorGetNext IteratorToStringHandle IteratorV2 "
        "MakeIterator AnonymousIteratorV2 DeleteIterator",
        "variables, checkpoints, summaries, the input's parsing: no float arithmetic",
        END_TO_END),
    **_allow(
        "StatelessRandomGetKeyCounter StatelessRandomNormalV2 StatelessRandomUniformV2 "
        "StatelessRandomUniformFullIntV2 StatelessRandomUniformIntV2 "
        "StatelessTruncatedNormalV2 StatelessShuffle StatelessRandomGetAlg",
        "stateless random draws (Philox, then single operations)", f"{PORTABLE_PROOF}: tf/*"),
    **_allow(
        "AddV2 Sub Mul RealDiv DivNoNan Neg Abs Sqrt Square Floor Round Max LeakyRelu "
        "LeakyReluGrad",
        _IEEE, f"{PORTABLE_PROOF}: tf/*"),
    # A float max of a subnormal is the flushed zero on x86, the subnormal in aarch64's scalar
    # code (control/tf_maximum_subnormal): portable.relu and portable.maximum select instead.
    **_allow("Maximum Minimum", "integer (shape arithmetic): exact", END_TO_END,
             dtypes=("int32", "int64")),
    "AddN": Portable("a sum of two (commutative): the pairwise gradient aggregation",
                     f"{PORTABLE_PROOF}: tf/AddN"),
    **_allow("MatMul BatchMatMulV2 Sum",
             "a float64 product or sum of integers below 2**53: exact in any order",
             f"{PORTABLE_PROOF}: matmul/*, reduce_sum/*", dtypes=("float64", "int32", "int64"),
             scope=_EXACT_SCOPE),
}  # fmt: skip
_DATASET = ("Dataset", "DatasetV2", "DatasetV3")
# What replaces a refused op in a portable graph.
_PORTABLE_REPLACEMENTS = {
    **dict.fromkeys(("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"),
                    "tf_determinism.ops.matmul (portable.matmul)"),
    **dict.fromkeys(("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"),
                    "tf_determinism.ops.conv2d / ops.conv2d_transpose"),
    **dict.fromkeys(("Sum", "Mean", "Prod", "BiasAddGrad", "L2Loss"),
                    "tf_determinism.ops.reduce_sum / reduce_mean (and for a per-channel "
                    "parameter's gradient ops.bias_add, ops.scale_shift, ops.divide_by_scalar)"),
    **{name: f"tf_determinism.portable.{fn}" for name, fn in (
        ("Exp", "exp"), ("Expm1", "expm1"), ("Log", "log"), ("Log1p", "log1p"),
        ("Tanh", "tanh"), ("TanhGrad", "tanh"), ("Sigmoid", "sigmoid"),
        ("SigmoidGrad", "sigmoid"), ("Softplus", "softplus"), ("SoftplusGrad", "softplus"),
        ("Softmax", "softmax"), ("LogSoftmax", "log_softmax"),
        ("SparseSoftmaxCrossEntropyWithLogits", "sparse_softmax_cross_entropy_with_logits"),
        ("SoftmaxCrossEntropyWithLogits", "log_softmax"))},
    "SqrtGrad": "tf_determinism.ops.sqrt (its gradient as single ops)",
    **dict.fromkeys(("Relu", "ReluGrad", "Maximum", "Minimum"),
                    "tf_determinism.ops.relu / ops.maximum (a compare and a select)"),
    "ResourceApplyAdam": "tf_determinism.optimizers.DeterministicAdam (single ops)",
}  # fmt: skip


def _portable_denial(node: Any) -> Denial | None:
    """Why `node` may not be in a portable graph (None: it may)."""
    allowed = PORTABLE_OPS.get(node.type)
    if allowed is None and node.type.endswith(_DATASET):
        return None
    dtype = node.dtype.name if node.dtype is not None else None
    if allowed is not None:
        if allowed.dtypes is not None and dtype not in allowed.dtypes:
            allowed = None
        elif (
            allowed.scope is not None
            and dtype == "float64"
            and not any(
                re.fullmatch(rf"{allowed.scope}(_\d+)?", part) for part in node.name.split("/")
            )
        ):
            allowed = None
        elif node.type == "AddN" and node.inputs > 2:
            allowed = None
    if allowed is not None:
        return None
    return Denial(
        f"no portable form of it is proven{f' for {dtype}' if dtype else ''}",
        _PORTABLE_REPLACEMENTS.get(
            node.type,
            "an op of tf_determinism.ops or " "tf_determinism.portable, or --numerics=fast",
        ),
        "so x86-64 and aarch64 may round it otherwise",
    )


# Divisions Grappler's constant folding rewrites (see the module docstring; DivNoNan is not
# rewritten, measured).
_DIVISIONS = ("RealDiv", "Div", "Xdivy")
# Never folded: their value is known only when the graph runs.
_NOT_FOLDABLE = (
    "Placeholder",
    "PlaceholderWithDefault",
    "PlaceholderV2",
    "Enter",
    "Exit",
    "Merge",
    "Switch",
    "NextIteration",
    "LoopCond",
    "_Arg",
    "_Recv",
)


def _layer(scope: str) -> tuple[str, str] | None:
    """(what, replacement) of the layer whose default name is a component of `scope`
    (dropout_1, model/layer_normalization, ...), innermost first."""
    for part in reversed(scope.split("/")):
        found = _LAYERS.get(re.sub(r"_\d+$", "", part))
        if found:
            return found
    return None


class RefusedOpError(ValueError):
    """The graph holds a refused op (one line: op, scope, why, replacement)."""

    def __init__(self, op_type: str, op_name: str, denial: Denial) -> None:
        scope = op_name.rpartition("/")[0] or "(top level)"
        replacement, layer = denial.replacement, _layer(scope)
        where = f"name scope {scope}"
        if layer:
            where += f": {layer[0]}"
            replacement = layer[1]
        super().__init__(
            f"{op_type} op '{op_name}' ({where}): {denial.kernel}, {denial.consequence}; "
            f"use {replacement}"
        )
        self.op_type, self.op_name, self.denial = op_type, op_name, denial


class CpuDependentOpError(RefusedOpError):
    """An op whose bits follow the CPU."""


class StatefulRandomOpError(RefusedOpError):
    """A stateful random op in a train graph."""


class NonPortableOpError(RefusedOpError):
    """An op with no portable form proven, in a graph of the portable numerics mode."""


@dataclasses.dataclass(frozen=True)
class _Node:
    type: str
    name: str
    dtype: tf.DType | None  # its "T" attr, None where it has none
    inputs: int = 0


_GRADIENT = re.compile(r"(^|/)gradients(_\d+)?/")


def _live(graph: tf.Graph) -> set[tf.Operation]:
    """The ops a run can execute: ancestors of the stateful ops (variable writes, summaries,
    the input) and of every op nothing consumes, but for unconsumed gradient ops (tf.gradients
    builds the gradient of every input, also of a constant or a stop_gradient, never run)."""
    consumed = {t.op for op in graph.get_operations() for t in op.inputs}
    roots = [
        op
        for op in graph.get_operations()
        if op.op_def.is_stateful or (op not in consumed and not _GRADIENT.search(op.name))
    ]
    live: set[tf.Operation] = set()
    while roots:
        op = roots.pop()
        if op not in live:
            live.add(op)
            roots.extend(t.op for t in op.inputs)
            roots.extend(op.control_inputs)
    return live


def _nodes(graph: tf.Graph, live_only: bool = False) -> Iterator[_Node]:
    """Every op of `graph` (with live_only, those `_live` keeps), then every node of the
    functions it calls (If/While branches, the input's maps)."""
    live = _live(graph) if live_only else None
    for op in graph.get_operations():
        if live is not None and op not in live:
            continue
        try:
            t = op.get_attr("T")
        except ValueError:
            t = None
        # A list-typed "T" (e.g. Assert's data types) is no element type.
        yield _Node(op.type, op.name, t if isinstance(t, tf.DType) else None, len(op.inputs))
    for function in graph.as_graph_def().library.function:
        for node in function.node_def:
            has_t = "T" in node.attr and node.attr["T"].type
            yield _Node(
                node.op,
                f"{function.signature.name}/{node.name}",
                tf.as_dtype(node.attr["T"].type) if has_t else None,
                len([i for i in node.input if not i.startswith("^")]),
            )


def op_census(graph: tf.Graph) -> dict[str, int]:
    """{op type: how many ops of it} in `graph` (and the functions it calls), sorted by type."""
    counts = collections.Counter(node.type for node in _nodes(graph))
    return dict(sorted(counts.items()))


def _foldable(graph: tf.Graph) -> set[tf.Operation]:
    """Ops Grappler's constant folding may evaluate at session start (a superset is safe)."""
    foldable: set[tf.Operation] = set()
    for op in graph.get_operations():  # creation order: every data input comes first
        if op.type == "Const":
            foldable.add(op)
        elif op.type in ("Shape", "Size", "Rank"):
            if op.inputs[0].shape.is_fully_defined():
                foldable.add(op)
        elif (
            op.inputs
            and op.type not in _NOT_FOLDABLE
            and not op.op_def.is_stateful
            and all(t.op in foldable for t in op.inputs)
        ):
            foldable.add(op)
    return foldable


def _constant_values(graph: tf.Graph, tensors: list[tf.Tensor]) -> list[np.ndarray]:
    """The values of foldable tensors: statically where TF can, else by running their constant
    subgraphs once in a copy without control inputs (Grappler folds data inputs only)."""
    values = [tf.get_static_value(t) for t in tensors]
    missing = [t for t, v in zip(tensors, values, strict=True) if v is None]
    if not missing:
        return values
    graph_def = graph.as_graph_def()
    for node in graph_def.node:  # (devices too: a cluster task's are not in this process)
        node.input[:] = [name for name in node.input if not name.startswith("^")]
        node.device = ""
    pure = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [t.op.name for t in missing])
    with tf.Graph().as_default() as copy:
        tf.graph_util.import_graph_def(pure, name="")
        with tf.compat.v1.Session(graph=copy) as session:
            computed = iter(session.run([t.name for t in missing]))
    return [next(computed) if v is None else v for v in values]


def _folded_reciprocals(graph: tf.Graph) -> Iterator[tuple[tf.Operation, Denial]]:
    """The divisions Grappler's constant folding turns into approximate reciprocals.

    It first evaluates every division of two constants with the division kernel (exact), then
    rewrites the rest: x / c, for a constant c that is neither a scalar nor all ones (x / 1 it
    removes), into x * reciprocal(c); and 1 / y, where y has the output's shape, into
    Reciprocal(y).
    """
    foldable = _foldable(graph)
    divisions = [
        op
        for op in graph.get_operations()
        if op.type in _DIVISIONS
        and op.inputs[0].dtype in _APPROXIMATE_DTYPES
        and (op.inputs[0].op in foldable) != (op.inputs[1].op in foldable)
    ]
    by_constant = [
        op
        for op in divisions
        if op.inputs[1].op in foldable and op.inputs[1].shape.num_elements() != 1
    ]
    of_ones = [
        op
        for op in divisions
        if op.inputs[0].op in foldable
        and (not op.inputs[1].shape.is_fully_defined() or op.inputs[1].shape == op.outputs[0].shape)
    ]
    checks = [(op, op.inputs[1]) for op in by_constant] + [(op, op.inputs[0]) for op in of_ones]
    values = _constant_values(graph, [tensor for _, tensor in checks])
    for (op, tensor), value in zip(checks, values, strict=True):
        ones = bool(np.all(value == 1))
        if tensor is op.inputs[1] and not ones:
            yield op, Denial(
                "Grappler folds a division by a constant vector into a "
                "multiplication by its reciprocal, computed with rcpps at session "
                "start",
                "divide by a scalar, or by a tensor computed in the graph",
            )
        elif tensor is op.inputs[0] and ones:
            yield op, Denial(
                "Grappler rewrites a division of a constant of ones into the "
                "approximate Reciprocal kernel (rcpps)",
                _DIVIDE,
            )


def audit(graph: tf.Graph, *, training: bool = False, portable: bool = False) -> dict[str, int]:
    """Checks `graph` for CPU-dependent ops and, in a train graph, stateful random ops (see the
    module docstring); in the portable numerics mode, that every op a run can execute is on
    the portable allowlist (PORTABLE_OPS).

    Args:
      graph: the graph, built.
      training: it trains (resumes, runs on several processes): refuse stateful random ops.
      portable: refuse any op not on PORTABLE_OPS (a float32 matmul, a TF exp, ...).

    Returns:
      The op census (`op_census`).

    Raises:
      CpuDependentOpError, StatefulRandomOpError, NonPortableOpError: the first such op, in
        creation order.
    """
    if portable:
        for node in _nodes(graph, live_only=True):
            denial = _portable_denial(node)
            if denial is not None:
                raise NonPortableOpError(node.type, node.name, denial)
    for node in _nodes(graph):
        denial = DENIED_OPS.get(node.type)
        if denial is not None and (node.dtype is None or node.dtype in _APPROXIMATE_DTYPES):
            raise CpuDependentOpError(node.type, node.name, denial)
        if training and node.type in RANDOM_OPS:
            raise StatefulRandomOpError(node.type, node.name, RANDOM_OPS[node.type])
    for op, denial in _folded_reciprocals(graph):
        raise CpuDependentOpError(op.type, op.name, denial)
    return op_census(graph)
