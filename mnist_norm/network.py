"""The network: one small MNIST CNN, built five ways (BN + L1, GN, LN, IN, and the control without a norm).

    python model.py [bn gn ln in none]     # the command over this module: summary, table, multiply-adds

The network is defined once, as a table of conv blocks (`ARCHITECTURE`). What changes between variants: the
normalization layer after each convolution (`norm_layer`, with `layer_groups` placing GN on the group axis),
for `bn` an L1 penalty on the conv kernels, and for the control a bias in each conv instead of a norm.
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
from .variants import ALL_NORMS, CONTROL, NORM_LABELS, NORMS, variant_label  # noqa: F401 (model.NORMS etc.)


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


def norm_layer(norm, channels, name, groups=DEFAULT_GROUPS, synchronized=False):
    """Returns the normalization layer for `norm` after a conv with `channels` outputs.

    Args:
        norm: "bn", "gn", "ln" or "in".
        channels: number of channels the layer normalizes (used to check `groups`).
        name: layer name.
        groups: number of groups for "gn".
        synchronized: for "bn", share batch statistics across replicas of a
            `tf.distribute` strategy (GN/LN statistics are per image anyway).

    Raises:
        ValueError: unknown `norm`, or `groups` that does not divide `channels`.
    """
    if norm == "bn":
        # momentum 0.9 (PyTorch's 0.1): Keras' 0.99 lags far behind in short runs.
        return FusedBatchNormalization(momentum=0.9, synchronized=synchronized, name=name)
    if norm == "gn":
        if not isinstance(groups, int) or groups < 1 or channels % groups:
            raise ValueError(
                f"groups={groups!r} does not divide the {channels} channels of layer "
                f"'{name}'; use a positive divisor of every layer's channel count."
            )
        return ChannelStatsGroupNormalization(groups=groups, name=name)
    if norm == "ln":
        # One group = statistics over (H, W, C) per image, gamma/beta per channel.
        return ChannelStatsGroupNormalization(groups=1, name=name)
    if norm == "in":
        # One channel per group = statistics over (H, W) per image and channel (Keras' groups=-1).
        return ChannelStatsGroupNormalization(groups=channels, name=name)
    raise ValueError(f"Unknown norm {norm!r}; expected one of {', '.join(n for n in ALL_NORMS if n != CONTROL)}.")


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
    if norm == "ln":
        return [1 for _ in specs]
    if norm == "in":
        return [spec.filters for spec in specs]
    if norm == "gn":
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
    if norm not in ALL_NORMS:
        raise ValueError(f"Unknown norm {norm!r}; expected one of {', '.join(ALL_NORMS)}.")
    if l1_strength < 0:
        raise ValueError(f"l1_strength must be >= 0; received {l1_strength!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); received {dropout!r}.")
    architecture = parse_architecture(architecture)
    # The one place where variants differ besides the norm layer itself.
    regularizer = keras.regularizers.L1(l1_strength) if norm == "bn" and l1_strength > 0 else None

    inputs = keras.Input(shape=(28, 28, 1), name="pixels")
    x = keras.layers.Rescaling(
        scale=1.0 / (255.0 * MNIST_STD), offset=-MNIST_MEAN / MNIST_STD, name="standardize"
    )(inputs)
    for spec in architecture:
        x = keras.layers.Conv2D(
            spec.filters,
            spec.kernel_size,
            # A norm's beta is the shift; without a norm the conv needs its own.
            use_bias=norm == CONTROL,
            kernel_regularizer=regularizer,
            name=f"{spec.name}_conv",
        )(x)
        if norm != CONTROL:
            x = norm_layer(norm, spec.filters, f"{spec.name}_norm", layer_groups(spec, groups, group_size),
                           synchronized)(x)
        if spec.pool_after:
            # ReLU and max-pool commute (ReLU is monotonic), values and gradients alike;
            # pooling first runs the ReLU on 4x fewer values.
            x = keras.layers.MaxPooling2D(2, name=f"{spec.name}_pool")(x)
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
