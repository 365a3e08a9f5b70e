"""Entry point of the reproducible MNIST GAN experiment (flags only, for now)."""

from absl import app, flags

_SEED = flags.DEFINE_integer("random_seed", 123, "Seed for data order, noise and weights.")
_MAX_TRAIN_STEPS = flags.DEFINE_integer("max_train_steps", 1000, "Training steps.", lower_bound=1)
_GAN_TYPE = flags.DEFINE_enum(
    "gan_type", "unconditional", ["unconditional", "conditional", "infogan"], "GAN variant."
)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    for name in ("random_seed", "max_train_steps", "gan_type"):
        print(f"{name}={flags.FLAGS[name].value}")


if __name__ == "__main__":
    app.run(main)
