"""The numerics pins for this directory's in-process runs, before any test imports TensorFlow
(an app's main does the same before importing it)."""

import sys

import tf_determinism

if "tensorflow" not in sys.modules:
    tf_determinism.configure_environment(tf_determinism.Numerics())
