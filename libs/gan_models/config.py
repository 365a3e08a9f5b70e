"""`GANConfig`: everything that defines one model configuration, validated on construction."""

from __future__ import annotations

import dataclasses
import math

from tf_determinism import SeedTree, check_int

GAN_TYPES = ("unconditional", "conditional", "infogan")
LOSS_NAMES = ("wasserstein", "minimax", "modified", "least_squares")
# The sub-seeds the models draw from (a run's SeedTree must have them): initial weights,
# generator noise, gradient-penalty interpolation, the sample grid, --eval's generator inputs.
SEED_NAMES = ("init", "noise", "gradient_penalty", "samples", "eval")
# Each divides the narrowest layer of the example networks (32 filters).
WIDTH_DIVISORS = (1, 2, 4, 8, 16, 32)

# TF-GAN examples/mnist/train.py: unconditional/conditional use `tfgan.gan_loss` defaults
# (wasserstein), InfoGAN uses the modified (non-saturating) losses.
DEFAULT_LOSS = {"unconditional": "wasserstein", "conditional": "wasserstein", "infogan": "modified"}
# TF-GAN examples/mnist/train_lib.py::_learning_rate: (generator, discriminator) Adam rates.
DEFAULT_LEARNING_RATES = {
    "unconditional": (1e-3, 1e-4),
    "conditional": (1e-5, 1e-4),
    "infogan": (1e-4, 1e-4),
}


def _check_float(name: str, value: object, *, positive: bool, optional: bool) -> None:
    if value is None and optional:
        return
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        bound = "> 0" if positive else ">= 0"
        extra = " or None" if optional else ""
        raise ValueError(f"GANConfig.{name} must be a finite number {bound}{extra}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """One GAN configuration (no I/O, no flags).

    Attributes:
      gan_type: One of `GAN_TYPES`.
      loss: One of `LOSS_NAMES`, or None for the gan_type's TF-GAN default (`DEFAULT_LOSS`).
      noise_dims: Generator noise size. For infogan it is the total continuous noise
        (unstructured = noise_dims - continuous_dim), as in TF-GAN's `get_infogan_noise`.
      gen_lr: Generator Adam learning rate; None -> TF-GAN example default per gan_type.
      crit_lr: Critic/discriminator Adam learning rate; None -> example default per gan_type.
      gradient_penalty_weight: None (off, as in the example, whose critic is spectrally
        normalized) or a weight >= 0 for the WGAN-GP penalty (any loss may use it).
      num_classes: Number of classes of the one-hot labels (conditional only).
      categorical_dim: InfoGAN categorical code size.
      continuous_dim: InfoGAN continuous code size.
      mutual_information_penalty_weight: InfoGAN mutual-information penalty weight.
      weight_decay: L2 weight decay of the example networks (2.5e-5).
      width_divisor: Every layer's width of the example networks is divided by it (1, 2, 4,
        8, 16 or 32; 1 is the example): same ops, fewer weights (tests use 16).
      micro_batches: M, how many fixed micro-batches one global batch is cut into (rows
        [i*B/M, (i+1)*B/M) are micro-batch i). Each is its own forward pass with its own
        batch-norm statistics; per-micro-batch gradients and losses are combined by a pairwise
        tree over the micro-batch index (step.py). Part of the model: M changes the numbers.
      seeds: The run's seed tree, with at least `SEED_NAMES`: the model draws from `init`
        (weights), `noise` (generator inputs), `gradient_penalty`, `samples` (the sample grid)
        and `eval`.
    """

    gan_type: str = "unconditional"
    loss: str | None = None
    noise_dims: int = 64
    gen_lr: float | None = None
    crit_lr: float | None = None
    gradient_penalty_weight: float | None = None
    num_classes: int = 10
    categorical_dim: int = 10
    continuous_dim: int = 2
    mutual_information_penalty_weight: float = 1.0
    weight_decay: float = 2.5e-5
    width_divisor: int = 1
    micro_batches: int = 1
    seeds: SeedTree = dataclasses.field(default_factory=lambda: SeedTree.from_root(0, SEED_NAMES))

    def __post_init__(self) -> None:
        if self.gan_type not in GAN_TYPES:
            raise ValueError(
                f"unknown gan_type {self.gan_type!r}; valid names: {', '.join(GAN_TYPES)}"
            )
        if self.loss is not None and self.loss not in LOSS_NAMES:
            raise ValueError(f"unknown loss {self.loss!r}; valid names: {', '.join(LOSS_NAMES)}")
        check_int("GANConfig.noise_dims", self.noise_dims, 1)
        check_int("GANConfig.num_classes", self.num_classes, 2)
        check_int("GANConfig.categorical_dim", self.categorical_dim, 2)
        check_int("GANConfig.continuous_dim", self.continuous_dim, 1)
        check_int("GANConfig.micro_batches", self.micro_batches, 1)
        if self.width_divisor not in WIDTH_DIVISORS:
            raise ValueError(
                f"GANConfig.width_divisor must be one of {WIDTH_DIVISORS}, got "
                f"{self.width_divisor!r}"
            )
        if not isinstance(self.seeds, SeedTree) or not self.seeds.has(*SEED_NAMES):
            raise ValueError(
                f"GANConfig.seeds must be a SeedTree with the sub-seeds "
                f"{', '.join(SEED_NAMES)}, got {self.seeds!r}"
            )
        _check_float("gen_lr", self.gen_lr, positive=True, optional=True)
        _check_float("crit_lr", self.crit_lr, positive=True, optional=True)
        _check_float(
            "gradient_penalty_weight", self.gradient_penalty_weight, positive=False, optional=True
        )
        _check_float(
            "mutual_information_penalty_weight",
            self.mutual_information_penalty_weight,
            positive=False,
            optional=False,
        )
        _check_float("weight_decay", self.weight_decay, positive=False, optional=False)
        if self.gan_type == "infogan" and self.noise_dims <= self.continuous_dim:
            raise ValueError(
                f"GANConfig.noise_dims ({self.noise_dims}) must exceed continuous_dim "
                f"({self.continuous_dim}) for infogan"
            )

    @property
    def resolved_loss(self) -> str:
        """The loss name in effect (`loss`, or the gan_type default)."""
        return self.loss if self.loss is not None else DEFAULT_LOSS[self.gan_type]

    @property
    def resolved_gen_lr(self) -> float:
        """The generator learning rate in effect."""
        return float(
            self.gen_lr if self.gen_lr is not None else DEFAULT_LEARNING_RATES[self.gan_type][0]
        )

    @property
    def resolved_crit_lr(self) -> float:
        """The critic learning rate in effect."""
        return float(
            self.crit_lr if self.crit_lr is not None else DEFAULT_LEARNING_RATES[self.gan_type][1]
        )

    @property
    def unstructured_noise_dims(self) -> int:
        """Size of the generator's unstructured noise input."""
        if self.gan_type == "infogan":
            return self.noise_dims - self.continuous_dim
        return self.noise_dims
