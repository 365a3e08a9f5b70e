"""A test app: an MNIST model written the usual Keras way (default initializers, no seeds), one
Keras layer type at a time, run by the skeleton. libs/repro_experiment/test_keras_layers.py
says, layer by layer, whether it keeps every guarantee or is refused in one line."""
