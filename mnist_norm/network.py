"""The network: one small MNIST CNN, built once per variant (variants.VARIANTS: BN + L1, GN, LN, IN, the control
without a norm, and BRN, GN + WS, FRN and RMSNorm).

    python model.py [bn gn ln in none]     # the command over this module: summary, table, multiply-adds

The network is defined once, as a table of conv blocks (`ARCHITECTURE`). What changes between variants, as their
records say: the normalization layer after each convolution (`LAYERS`, with `layer_groups` placing GN on the group
axis), for `bn` an L1 penalty on the conv kernels, for the control a bias in each conv instead of a norm, for
`gnws` weight-standardized convs, and for `frn` its own activation (the TLU) in place of the ReLU.
Everything else (widths, order, names) is shared.

Layer normalization of conv features means: each image is normalized over all of
(H, W, C) together, with one learned scale and shift per channel. In Keras that is
exactly `GroupNormalization(groups=1)` (one group holding every channel). We use it
instead of `LayerNormalization(axis=(1, 2, 3))`, which computes the same statistics
but learns an H*W*C-sized gamma and beta (2.5x this network's parameters), and
instead of `LayerNormalization()` with its default axis, which normalizes each pixel
over its channels only: that is not LN for CNNs. `tests/test_model.py` proves the
equivalence with the per-(H, W, C) definition.
"""

from . import quiet_tf

quiet_tf.start()  # whoever imports this first: TensorFlow's C++ start-up lines only with --debug

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from .architecture import (  # noqa: E402,F401 (network.ARCHITECTURE etc.)
    ARCHITECTURE, COURSE_ARCHITECTURE, DEFAULT_GROUPS, DEFAULT_L1, NUM_CLASSES, ConvSpec, architecture_spec,
    parse_architecture,
)
from . import variants  # noqa: E402
from .variants import ALL_NORMS, CONTROL, NORM_LABELS, NORMS, variant_label  # noqa: E402,F401 (model.NORMS etc.)


# MNIST training-set pixel statistics (on the 0-1 scale); the model standardizes
# raw 0-255 pixels itself so exported models need no outside preprocessing.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@keras.saving.register_keras_serializable(package="mnist_norm")
class ChannelStatsGroupNormalization(keras.layers.GroupNormalization):
    """`keras.layers.GroupNormalization` for NHWC images, computed from per-channel sums.

    Same weights, config and outputs as the Keras layer (a test checks them within
    1e-5), but about 1.5x faster on CPU for groups > 1: instead of reshaping the whole
    activation into (N, H, W, G, C/G) and reducing over three non-adjacent axes, it
    reduces x and x^2 over (H, W) once, pools those per-channel means into group
    statistics on a tiny (N, G, C/G) tensor, and applies one per-(image, channel)
    scale and shift. Statistics are computed in float32 (also under mixed precision).
    """

    def call(self, inputs):
        if len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return super().call(inputs)
        x = keras.ops.cast(inputs, "float32")
        channels = x.shape[-1]
        if self.groups == channels:  # instance norm: each channel is its own group, nothing to average
            def group_mean(per_channel):
                return per_channel
        else:
            group_of = np.arange(channels) // (channels // self.groups)
            # (C, C) matrix averaging each channel's group: a tiny matmul instead of
            # reshapes (TF on CPU hit a slow path for some group shapes with reshapes).
            averaging = (group_of[:, None] == group_of[None, :]) / (channels // self.groups)
            averaging = keras.ops.convert_to_tensor(averaging.astype("float32"))

            def group_mean(per_channel):  # (N, C) -> (N, C): mean over each channel's group
                return keras.ops.matmul(per_channel, averaging)

        mean = group_mean(keras.ops.mean(x, axis=(1, 2)))
        mean_square = group_mean(keras.ops.mean(keras.ops.square(x), axis=(1, 2)))
        variance = keras.ops.maximum(mean_square - keras.ops.square(mean), 0.0)
        scale = keras.ops.rsqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * keras.ops.cast(self.gamma, "float32")
        shift = -mean * scale
        if self.center:
            shift = shift + keras.ops.cast(self.beta, "float32")
        outputs = x * scale[:, None, None, :] + shift[:, None, None, :]
        return keras.ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="mnist_norm")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by TensorFlow's fused kernel for NHWC images.

    Keras 3 builds batch norm from separate moments / normalize ops; TensorFlow's
    `FusedBatchNormV3` (what tf.keras 2 used) does forward and backward in one kernel
    each and trains this network about 1.5x faster on CPU. Same weights, config and
    update rule as the Keras layer (a test checks outputs, gradients and moving
    statistics within 1e-5); anything the fused kernel does not cover (masks, renorm,
    synchronized replicas, other ranks or backends) falls back to the Keras code.
    """

    def call(self, inputs, training=None, mask=None):
        if (
            mask is not None
            or getattr(self, "renorm", False)  # Keras >= 3.11 only
            or self.synchronized
            or len(inputs.shape) != 4
            or self.axis not in (-1, 3)
            or keras.backend.backend() != "tensorflow"
        ):
            return super().call(inputs, training=training, mask=mask)
        x = inputs if inputs.dtype in (tf.float16, tf.bfloat16, tf.float32) else tf.cast(inputs, tf.float32)
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones_like(self.moving_mean)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros_like(self.moving_mean)
        if training and self.trainable:
            outputs, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=tf.constant([], tf.float32),
                variance=tf.constant([], tf.float32), epsilon=self.epsilon,
                is_training=True, data_format="NHWC",
            )
            # The kernel reports the Bessel-corrected variance; Keras tracks the biased one.
            count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
            variance = variance * (count - 1.0) / count
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
            )
        else:
            outputs, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon,
                is_training=False, data_format="NHWC",
            )
        return tf.cast(outputs, self.compute_dtype)


# ----------------------------------------------------------------------------- after Group Norm (issue 46)


@keras.saving.register_keras_serializable(package="mnist_norm")
class RampedBatchRenormalization(keras.layers.BatchNormalization):
    """Keras' Batch Renormalization (`BatchNormalization(renorm=True)`, Ioffe 2017) with the paper's schedule for
    its clipping: r_max = 1 and d_max = 0 (plain BN) for the first `relax_from` training steps, then relaxed
    linearly to r_max = `r_max` at step `r_max_at` and d_max = `d_max` at step `d_max_at` (the paper's 5k, 40k, 25k
    steps; 3 and 5). Keras reads its clipping from `renorm_clipping` once; here the bounds follow a step counter
    that every training call advances, so they move while a compiled graph runs. At inference it is BN with moving
    averages: it folds into its conv like BN.
    """

    def __init__(self, r_max=3.0, d_max=5.0, relax_from=5000, r_max_at=40000, d_max_at=25000, **kwargs):
        missing = variants.missing_keras("brn")
        if missing:
            raise ValueError(f"Batch Renormalization {missing}")
        kwargs.setdefault("renorm", True)
        kwargs.setdefault("renorm_clipping", {"rmax": r_max, "rmin": 1.0 / r_max, "dmax": d_max})
        super().__init__(**kwargs)
        self.r_max, self.d_max = float(r_max), float(d_max)
        self.relax_from, self.r_max_at, self.d_max_at = int(relax_from), int(r_max_at), int(d_max_at)

    def build(self, input_shape):
        super().build(input_shape)
        self.step = self.add_weight(name="step", shape=(), initializer="zeros", trainable=False,
                                    dtype="float32", autocast=False)

    def clipping(self):
        """(r_max, d_max) at the current step."""
        def ramp(end_step, end_value, start_value):
            done = keras.ops.clip((self.step - self.relax_from) / float(end_step - self.relax_from), 0.0, 1.0)
            return start_value + done * (end_value - start_value)

        return ramp(self.r_max_at, self.r_max, 1.0), ramp(self.d_max_at, self.d_max, 0.0)

    def _renorm_correction_and_moments(self, mean, variance):
        r_max, d_max = (keras.ops.cast(bound, mean.dtype) for bound in self.clipping())
        stddev = keras.ops.sqrt(variance + self.epsilon)
        renorm_mean = keras.ops.cast(self.renorm_mean, mean.dtype)
        renorm_stddev = keras.ops.maximum(keras.ops.cast(self.renorm_stddev, mean.dtype),
                                          keras.ops.sqrt(keras.ops.cast(self.epsilon, mean.dtype)))
        r = keras.ops.clip(stddev / renorm_stddev, 1.0 / r_max, r_max)
        d = keras.ops.clip((mean - renorm_mean) / renorm_stddev, -d_max, d_max)
        self.step.assign_add(1.0)
        return keras.ops.stop_gradient(r), keras.ops.stop_gradient(d), mean, variance

    def get_config(self):
        config = super().get_config()
        config.pop("renorm_clipping", None)
        return {**config, "r_max": self.r_max, "d_max": self.d_max, "relax_from": self.relax_from,
                "r_max_at": self.r_max_at, "d_max_at": self.d_max_at}


@keras.saving.register_keras_serializable(package="mnist_norm")
class StandardizedConv2D(keras.layers.Conv2D):
    """Conv2D with Weight Standardization (Qiao et al. 2019): each output channel's kernel is standardized over its
    fan-in (kh, kw, C_in) to mean 0 and variance 1 (+ `epsilon`) before it convolves. The kernel the SavedModel and
    LiteRT files hold is the standardized one (a constant: the converter folds the standardization away), so at
    inference GN + WS costs what GN costs."""

    def __init__(self, *args, epsilon=1e-5, **kwargs):
        super().__init__(*args, **kwargs)
        self.epsilon = float(epsilon)

    def standardized_kernel(self):
        kernel = keras.ops.cast(self.kernel, "float32")
        mean = keras.ops.mean(kernel, axis=(0, 1, 2), keepdims=True)
        variance = keras.ops.var(kernel, axis=(0, 1, 2), keepdims=True)
        return keras.ops.cast((kernel - mean) / keras.ops.sqrt(variance + self.epsilon), self.compute_dtype)

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, self.standardized_kernel())

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="mnist_norm")
class FilterResponseNormalization(keras.layers.Layer):
    """Filter Response Normalization with its Thresholded Linear Unit (Singh & Krishnan 2020), per image and channel:
    nu^2 = mean over (H, W) of x^2, y = max(gamma * x / sqrt(nu^2 + epsilon) + beta, tau), with gamma, beta and the
    learned threshold tau one per channel. No mean is subtracted and no batch is involved; the TLU is the block's
    activation (the network adds no ReLU after it)."""

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")
        self.tau = self.add_weight(name="tau", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        x = keras.ops.cast(inputs, "float32")
        nu2 = keras.ops.mean(keras.ops.square(x), axis=(1, 2), keepdims=True)
        y = keras.ops.maximum(self.gamma * x * keras.ops.rsqrt(nu2 + self.epsilon) + self.beta, self.tau)
        return keras.ops.cast(y, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="mnist_norm")
class ChannelRMSNormalization(keras.layers.RMSNormalization):
    """Keras' `RMSNormalization` (Zhang & Sennrich 2019: LayerNorm without the mean, and without a shift) over the
    axes the study's LN uses, (H, W, C) of each image, with one learned scale per channel as LN has (Keras' layer
    with those axes would learn an H*W*C-sized scale): y = x / sqrt(mean over (H, W, C) of x^2 + epsilon) * scale."""

    def __init__(self, axis=(1, 2, 3), epsilon=1e-6, **kwargs):
        super().__init__(axis=list(axis), epsilon=epsilon, **kwargs)

    def build(self, input_shape):
        self.axis = sorted(self.axis)
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
        self.built = True

    def call(self, x):
        values = keras.ops.cast(x, "float32")
        mean_square = keras.ops.mean(keras.ops.square(values), axis=self.axis, keepdims=True)
        return keras.ops.cast(values * keras.ops.rsqrt(mean_square + self.epsilon) * self.scale, self.compute_dtype)


def _groups_checked(groups, channels, name):
    if not isinstance(groups, int) or groups < 1 or channels % groups:
        raise ValueError(
            f"groups={groups!r} does not divide the {channels} channels of layer "
            f"'{name}'; use a positive divisor of every layer's channel count."
        )
    return groups


# Each variant's layer after a conv of `channels` outputs, under its name in variants.VARIANTS: called with
# (channels, name, groups, synchronized), where `groups` is GN's for this layer (layer_groups) and `synchronized`
# asks a batch norm to share its statistics across the replicas of a tf.distribute strategy.
LAYERS = {
    # momentum 0.9 (PyTorch's 0.1): Keras' 0.99 lags far behind in short runs.
    "bn": lambda channels, name, groups, synchronized: FusedBatchNormalization(
        momentum=0.9, synchronized=synchronized, name=name),
    "gn": lambda channels, name, groups, synchronized: ChannelStatsGroupNormalization(
        groups=_groups_checked(groups, channels, name), name=name),
    # One group = statistics over (H, W, C) per image, gamma/beta per channel.
    "ln": lambda channels, name, groups, synchronized: ChannelStatsGroupNormalization(groups=1, name=name),
    # One channel per group = statistics over (H, W) per image and channel (Keras' groups=-1).
    "in": lambda channels, name, groups, synchronized: ChannelStatsGroupNormalization(groups=channels, name=name),
    # Batch Renormalization: BN's momentum for both its moving averages and its renorm statistics.
    "brn": lambda channels, name, groups, synchronized: RampedBatchRenormalization(
        momentum=0.9, renorm_momentum=0.9, synchronized=synchronized, name=name),
    # GN after a weight-standardized conv (the conv is variants' `conv="standardized"`), GN's 4 groups.
    "gnws": lambda channels, name, groups, synchronized: ChannelStatsGroupNormalization(
        groups=_groups_checked(DEFAULT_GROUPS, channels, name), name=name),
    "frn": lambda channels, name, groups, synchronized: FilterResponseNormalization(name=name),
    "rms": lambda channels, name, groups, synchronized: ChannelRMSNormalization(name=name),
}


def norm_layer(norm, channels, name, groups=DEFAULT_GROUPS, synchronized=False):
    """Returns the normalization layer for `norm` after a conv with `channels` outputs (`LAYERS[norm]`).

    Args:
        norm: a normalized variant's name ("bn", "gn", "ln", "in", ...).
        channels: number of channels the layer normalizes (used to check `groups`).
        name: layer name.
        groups: number of groups for "gn".
        synchronized: for "bn", share batch statistics across replicas of a
            `tf.distribute` strategy (GN/LN statistics are per image anyway).

    Raises:
        ValueError: unknown `norm`, or `groups` that does not divide `channels`.
    """
    if norm not in LAYERS:
        raise ValueError(f"Unknown norm {norm!r}; expected one of {', '.join(LAYERS)}.")
    return LAYERS[norm](channels, name, groups, synchronized)


def layer_groups(spec, groups=DEFAULT_GROUPS, group_size=None):
    """The number of groups GN uses after conv block `spec`: `groups`, or its channels / `group_size`.

    Raises:
        ValueError: a group size that does not divide the block's channels, naming the block.
    """
    if group_size is None:
        return groups
    if not isinstance(group_size, int) or group_size < 1 or spec.filters % group_size:
        raise ValueError(f"group size {group_size!r} does not divide the {spec.filters} channels of layer "
                         f"'{spec.name}'; use a positive divisor of every layer's channel count.")
    return spec.filters // group_size


def groups_per_layer(norm, architecture=ARCHITECTURE, groups=DEFAULT_GROUPS, group_size=None):
    """Where a variant sits on the group axis: [groups of each normalized layer] (LN: all 1, IN: the channels)."""
    specs = parse_architecture(architecture)
    place = variants.VARIANTS[norm].groups
    if place == "one":
        return [1 for _ in specs]
    if place == "channel":
        return [spec.filters for spec in specs]
    if place == "setting":
        return [layer_groups(spec, groups, group_size) for spec in specs]
    return None


def build_model(
    norm="bn",
    *,
    l1_strength=DEFAULT_L1,
    groups=DEFAULT_GROUPS,
    group_size=None,
    dropout=0.0,
    synchronized=False,
    architecture=ARCHITECTURE,
):
    """Builds the MNIST CNN with the chosen normalization.

    Args:
        norm: "bn" (BatchNormalization + L1 on conv kernels), "gn"
            (GroupNormalization with `groups`), "ln" (GroupNormalization(groups=1)), "in" (instance norm:
            GroupNormalization with one channel per group), or
            "none": the control, no normalization and a bias in each conv instead.
        l1_strength: L1 factor on conv kernels; used by "bn" only. Gamma/beta are
            never regularized.
        groups: groups for "gn"; must divide every normalized layer's channels.
        group_size: for "gn", channels per group instead of a number of groups (the GN paper's second
            parametrisation): each layer gets channels / group_size groups. Must divide every layer's channels.
        dropout: spatial dropout rate after each block (0 disables it).
        synchronized: synchronized BatchNormalization across replicas.
        architecture: sequence of `ConvSpec`, or a spec string for `parse_architecture`.

    Returns:
        A `keras.Model` mapping raw pixels (batch, 28, 28, 1) in 0-255 to 10 logits.
    """
    if norm not in variants.VARIANTS:
        raise ValueError(f"Unknown norm {norm!r}; expected one of {', '.join(variants.VARIANTS)}.")
    variant = variants.VARIANTS[norm]
    if l1_strength < 0:
        raise ValueError(f"l1_strength must be >= 0; received {l1_strength!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); received {dropout!r}.")
    architecture = parse_architecture(architecture)
    # The one place where variants differ besides the norm layer itself.
    regularizer = keras.regularizers.L1(l1_strength) if variant.own("l1") and l1_strength > 0 else None

    inputs = keras.Input(shape=(28, 28, 1), name="pixels")
    x = keras.layers.Rescaling(
        scale=1.0 / (255.0 * MNIST_STD), offset=-MNIST_MEAN / MNIST_STD, name="standardize"
    )(inputs)
    conv = StandardizedConv2D if variant.conv == "standardized" else keras.layers.Conv2D
    for spec in architecture:
        x = conv(
            spec.filters,
            spec.kernel_size,
            # A norm's beta is the shift; without a norm the conv needs its own.
            use_bias=not variant.normalized,
            kernel_regularizer=regularizer,
            name=f"{spec.name}_conv",
        )(x)
        if variant.normalized:
            x = norm_layer(norm, spec.filters, f"{spec.name}_norm", layer_groups(spec, groups, group_size),
                           synchronized)(x)
        if spec.pool_after:
            # ReLU and max-pool commute (ReLU is monotonic), values and gradients alike;
            # pooling first runs the ReLU on 4x fewer values.
            x = keras.layers.MaxPooling2D(2, name=f"{spec.name}_pool")(x)
        if not variant.activation:  # FRN's TLU is its own activation
            x = keras.layers.ReLU(name=f"{spec.name}_relu")(x)
        if dropout:
            x = keras.layers.SpatialDropout2D(dropout, name=f"{spec.name}_dropout")(x)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = keras.layers.Conv2D(
        NUM_CLASSES, 1, use_bias=False, kernel_regularizer=regularizer, name="head_conv"
    )(x)
    # Logits stay float32 under a mixed-precision policy.
    logits = keras.layers.Flatten(name="logits", dtype="float32")(x)
    return keras.Model(inputs, logits, name=f"mnist_{norm}")


def probability_model(model):
    """Wraps a logits model so it returns class probabilities (what the SavedModel serves)."""
    probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(model.output)
    return keras.Model(model.input, probabilities, name=f"{model.name}_probabilities")


def predict_probabilities(model, images, batch_size=1000):
    """Class probabilities of a logits model for raw 0-255 images, as a NumPy array."""
    logits = model.predict(images.astype("float32"), batch_size=batch_size, verbose=0)
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits.astype("float32"), axis=-1))


def trainable_params(model_or_layer):
    """Number of trainable scalars in a model or layer."""
    return int(sum(np.prod(w.shape) for w in model_or_layer.trainable_weights))


def layer_table(model):
    """Rows (layer, output shape, trainable params, receptive field) for the README / summary.

    The receptive field is tracked through convs and pools (stride-1 valid convs,
    2x2/2 max-pool); layers that do not change it repeat the previous value.
    """
    rows = []
    receptive, jump = 1, 1
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            receptive += (layer.kernel_size[0] - 1) * jump
            jump *= layer.strides[0]
        elif isinstance(layer, keras.layers.MaxPooling2D):
            receptive += (layer.pool_size[0] - 1) * jump
            jump *= layer.strides[0]
        elif isinstance(layer, keras.layers.GlobalAveragePooling2D):
            receptive = 28
        shape = tuple(layer.output.shape[1:])
        rows.append((layer.name, shape, trainable_params(layer), receptive))
    return rows


def multiply_adds(model):
    """Multiply-adds of one forward pass of one image through the conv layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            height, width, out_channels = layer.output.shape[1:]
            in_channels = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            total += height * width * out_channels * in_channels * kh * kw
    return int(total)




def markdown_table(model):
    """`layer_table` as a Markdown table, one row per block (the README's architecture table).

    A block's layers share a name prefix (`block1_conv`, `block1_norm`, ...); its row shows
    the block's output shape, its parameters and the receptive field after it.
    """
    blocks = {}
    for name, shape, params, receptive in layer_table(model):
        block = name.rsplit("_", 1)[0] if "_" in name else name
        entry = blocks.setdefault(block, {"layers": [], "params": 0})
        entry["layers"].append(name[len(block) + 1:] or name)
        entry.update(shape=shape, receptive=receptive)
        entry["params"] += params
    lines = ["| block | layers | output shape | trainable params | receptive field |", "|---|---|---|---|---|"]
    for block, entry in blocks.items():
        lines.append(f"| {block} | {' → '.join(entry['layers'])} | {' x '.join(str(d) for d in entry['shape'])} "
                     f"| {entry['params']:,} | {entry['receptive']}x{entry['receptive']} |")
    lines.append(f"| **total trainable** | | | **{trainable_params(model):,}** | |")
    return "\n".join(lines)
