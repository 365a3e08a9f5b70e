"""samples.png: a grid of generated digits, as PNG bytes."""

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot's import
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def image_grid(images: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Tiles images into one picture.

    Args:
      images: float [n_rows * n_cols, H, W, 1] or [.., H, W] in [-1, 1], row-major order.

    Returns:
      uint8 [n_rows * H, n_cols * W] in 0..255.
    """
    images = np.asarray(images, np.float32)
    if images.ndim == 4:
        images = images[..., 0]
    count, height, width = images.shape
    if count != n_rows * n_cols:
        raise ValueError(f"{count} images for a {n_rows}x{n_cols} grid")
    pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    grid = pixels.reshape(n_rows, n_cols, height, width).transpose(0, 2, 1, 3)
    return grid.reshape(n_rows * height, n_cols * width)


def png_grid(images: np.ndarray, *, n_rows: int, n_cols: int, title: str) -> bytes:
    """The grid of `images` (see image_grid) with a title, as a PNG file's bytes."""
    grid = image_grid(images, n_rows, n_cols)
    fig = plt.figure(figsize=(n_cols * 0.6 + 0.4, n_rows * 0.6 + 0.8), dpi=100)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96 - 0.5 / (n_rows * 0.6 + 0.8)))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return buffer.getvalue()
