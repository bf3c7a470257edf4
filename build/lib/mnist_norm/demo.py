"""Batch, Group, Layer and Instance normalization worked by hand on a tiny tensor, checked against Keras.

The tensor is a batch of 2 images, 2x2 pixels, 4 channels (NHWC), drawn with a fixed
seed. For each normalization `worked_example` prints, as Markdown, which values each
mean/variance is taken over, the means, the variances and the normalized output, then
compares with the Keras layer the project uses. gamma = 1 and beta = 0, so the output is
the bare normalization. It returns 1 if any result differs from Keras by 1e-5 or more.
"""

import sys

from . import quiet_tf  # noqa: E402

quiet_tf.start()  # TensorFlow's C++ start-up lines only with --debug

import numpy as np  # noqa: E402

from . import network as model  # noqa: E402

EPSILON = 1e-3  # the Keras default for both BatchNormalization and GroupNormalization
TOLERANCE = 1e-5


def example_tensor(seed=7):
    """(2, 2, 2, 4) values rounded to one decimal so they are easy to follow by hand."""
    return np.round(np.random.default_rng(seed).normal(0.0, 2.0, size=(2, 2, 2, 4)), 1).astype("float32")


def _fmt(values):
    return ", ".join(f"{v:.1f}" for v in np.ravel(values))


def _matrix(array, decimals=4):
    """Markdown table: one row per image and pixel, one column per channel."""
    lines = ["| image | pixel | " + " | ".join(f"c{c}" for c in range(array.shape[-1])) + " |",
             "|---|---|" + "---|" * array.shape[-1]]
    for n in range(array.shape[0]):
        for h in range(array.shape[1]):
            for w in range(array.shape[2]):
                cells = " | ".join(f"{v:.{decimals}f}" for v in array[n, h, w])
                lines.append(f"| {n} | ({h},{w}) | {cells} |")
    return "\n".join(lines)


def batch_norm(x):
    """One mean/variance per channel, over every image and pixel of the batch."""
    steps = []
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    for c in range(x.shape[-1]):
        steps.append(f"| channel c{c} | {_fmt(x[..., c])} | {mean[c]:.4f} | {var[c]:.4f} |")
    return (x - mean) / np.sqrt(var + EPSILON), steps


def group_norm(x, groups):
    """One mean/variance per image and group of channels, over that group's pixels."""
    n, h, w, c = x.shape
    size = c // groups
    out = np.empty_like(x)
    steps = []
    for i in range(n):
        for g in range(groups):
            block = x[i, :, :, g * size : (g + 1) * size]
            mean, var = block.mean(), block.var()
            out[i, :, :, g * size : (g + 1) * size] = (block - mean) / np.sqrt(var + EPSILON)
            channels = ",".join(f"c{k}" for k in range(g * size, (g + 1) * size))
            label = (f"image {i}" if groups == 1 else f"image {i}, channel {channels}" if size == 1
                     else f"image {i}, group {g} ({channels})")
            steps.append(f"| {label} | {_fmt(block)} | {mean:.4f} | {var:.4f} |")
    return out, steps


def keras_output(norm, x):
    layer = model.norm_layer(norm, x.shape[-1], f"demo_{norm}", groups=2)
    return np.asarray(layer(x, training=True))


def worked_example():
    x = example_tensor()
    # NumPy works in float64 so the printed digits are the same on every CPU (float32
    # sums may round differently with other SIMD widths); Keras gets the float32 input.
    exact = x.astype("float64")
    sections = [
        ("Batch normalization", "bn", batch_norm(exact),
         "statistics per channel, over all 2 images x 4 pixels = 8 values each"),
        ("Group normalization (2 groups)", "gn", group_norm(exact, 2),
         "statistics per image and group of 2 channels, over 4 pixels x 2 channels = 8 values each"),
        ("Layer normalization", "ln", group_norm(exact, 1),
         "statistics per image, over all 4 pixels x 4 channels = 16 values each"),
        ("Instance normalization", "in", group_norm(exact, x.shape[-1]),
         "statistics per image and channel, over its 4 pixels = 4 values each"),
    ]
    print("## Input x: 2 images, 2x2 pixels, 4 channels (seed 7)\n")
    print(_matrix(x, decimals=1))
    print(f"\nEach output is (x - mean) / sqrt(variance + {EPSILON:g}); gamma = 1, beta = 0.")
    failures, verdicts, outputs = [], [], []
    for title, norm, (ours, steps), scope in sections:
        print(f"\n## {title}\n\n{scope}.\n")
        print("| statistic over | values | mean | variance |\n|---|---|---|---|")
        print("\n".join(steps))
        outputs.append(ours)
        difference = float(np.abs(ours - keras_output(norm, x)).max())
        # The bound, not the difference itself: its digits depend on the CPU's float rounding.
        verdict = "OK" if difference < TOLERANCE else "MISMATCH"
        verdicts.append(f"{norm.upper()} {'<' if verdict == 'OK' else '>='} {TOLERANCE:g} ({verdict})")
        if not difference < TOLERANCE:
            failures.append(f"{title}: max difference {difference:.2e} >= {TOLERANCE:g}")
    print("\n## Normalized outputs (c0, c1, c2, c3 of each pixel)\n")
    print("| image | pixel | BN | GN (2 groups) | LN | IN |\n|---|---|---|---|---|---|")
    for n in range(x.shape[0]):
        for h in range(x.shape[1]):
            for w in range(x.shape[2]):
                # round(v, 4) + 0.0: an exact zero prints 0.0000 whichever side of zero the CPU's rounding put it
                cells = " | ".join(", ".join(f"{round(v, 4) + 0.0:.4f}" for v in out[n, h, w]) for out in outputs)
                print(f"| {n} | ({h},{w}) | {cells} |")
    print(f"\nMax |NumPy - Keras|: {', '.join(verdicts)}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


def axes_figure(path, batch=128):
    """Draws the README's figure of what each normalization averages over, from the network's real shapes."""
    import matplotlib

    matplotlib.use("Agg")
    from . import plots
    from . import rundir

    layer = model.build_model("gn").get_layer("block1_norm")
    _, height, width, channels = layer.output.shape
    figure = plots.plot_normalization_axes(batch, channels, height, width, layer.groups)
    rundir.save_figure(figure, path)
