"""`./pants run apps/repro`: `compare` two runs bit for bit, or run mnist_gan `twice`."""
