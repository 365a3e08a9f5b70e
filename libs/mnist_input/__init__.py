"""MNIST as the input of the apps that train on it (the GAN, the classifier).

  MnistDataOptions   the skeleton's data group plus `--mnist_idx_dir` (options.py); an MNIST
                     app declares `data: MnistDataOptions = MnistDataOptions()`

TensorFlow-backed, imported by train_libs after the pins: `mnist_input.data` (`prepare_mnist`:
MNIST loaded and its train split written as seeded records, a `PreparedMnist`;
`scale_images`: the (x - 128) / 128 input). Importing this package does not import TensorFlow.

It sits between the skeleton (`repro_experiment` and `repro_app`, which know no dataset) and
the MNIST apps (`MnistDataOptions.quick_data`: their quick data, real digits): an app
on other data writes a library like this one, and neither the skeleton nor this library
changes.
"""

from mnist_input.options import MnistDataOptions

__all__ = ["MnistDataOptions"]
