"""`./pants run apps/repro`: `compare`, `twice`, `check`, `emulate` and `verify` runs of any
registered app (apps.py), bit for bit."""
