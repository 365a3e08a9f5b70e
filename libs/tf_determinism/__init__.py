"""What makes a TensorFlow run repeat bit for bit, for every app of this repo (no flags, no I/O
beyond crash-safe writes):

  Numerics, configure_environment,     the process-wide pins (threads, oneDNN, op determinism),
  configure_tensorflow, session_config, set before TF is imported, and deterministic Grappler
  deterministic_run_config,             settings (pins.py)
  numerics_record, PinError,           (a pin the CPU cannot honour), PINNED_ENVIRONMENT
  CPU_ISAS
  machine.fingerprint, onednn_probe     what the CPU is: ISA levels, caches, cores (machine.py)
  SeedTree, derive_seed, stateless_key the run's one seed tree, sub-seeds named by the app
                                        (seeds.py)
  StatelessGlorotUniform,              initializers keyed by (init seed, variable name); Keras'
  StatelessNormal, variable_key,        unseeded ones seeded the same way around a model_fn
  seeded_keras_initializers             (initializers.py; import TF)
  DeterministicAdam,                   pairwise, gated gradient aggregation; one update from
  micro_batch_update                    per-micro-batch passes, for any model, the loss and any
                                        other scalars averaged alike (optimizers.py)
  layers.dense, layer_norm, dropout     layers on the stateless initializers (layers.py)
  exact.softmax, layer_normalization,  vendor-independent replacements of TF's approximate
  batch_normalization, l2_normalize     kernels (exact.py; graph_audit.py refuses those, and a
                                        train graph's stateful random ops)
  tree_sum, tree_mean                  sums in an order fixed by position (reduce.py)
  portable.matmul, reduce_sum, exp, ... float32 ops with the same bits on x86-64 and aarch64
                                        (portable.py; their proof's ops: portable_proof.py)
  write_bytes_atomic, write_text_atomic writes a crash cannot leave half done (atomic.py): a
  write_json_atomic                     resume after kill -9 must find whole files; sorted
                                        JSON, so equal records give equal bytes
  check_int                            the one int-argument check and its message (checks.py)
  child_env                            the environment of a child `python -m` that must
                                        import what this process imports (child_process.py)

Importing this package does not import TensorFlow (apps import it before pinning numerics);
import the TF-backed modules themselves: `tf_determinism.initializers`, `.layers`,
`.optimizers`, `.reduce`, `.exact`, `.graph_audit`.
"""

from tf_determinism.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from tf_determinism.checks import check_int
from tf_determinism.child_process import child_env
from tf_determinism.pins import (
    CPU_ISAS,
    PINNED_ENVIRONMENT,
    Numerics,
    PinError,
    configure_environment,
    configure_tensorflow,
    deterministic_grappler,
    deterministic_run_config,
    numerics_record,
    session_config,
)
from tf_determinism.seeds import SeedTree, derive_seed, stateless_key

__all__ = [
    "CPU_ISAS",
    "Numerics",
    "PINNED_ENVIRONMENT",
    "PinError",
    "SeedTree",
    "check_int",
    "child_env",
    "configure_environment",
    "configure_tensorflow",
    "derive_seed",
    "deterministic_grappler",
    "deterministic_run_config",
    "numerics_record",
    "session_config",
    "stateless_key",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
