import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_norm import network as model
from mnist_norm import variants

from conftest import ROOT  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("norm", model.NORMS + ("in",))
def test_every_variant_builds_small_with_logits(norm):
    net = model.build_model(norm)
    assert model.trainable_params(net) <= 8000
    pixels = RNG.integers(0, 256, size=(3, 28, 28, 1)).astype("float32")
    logits = net(pixels, training=False)
    assert tuple(logits.shape) == (3, 10)
    assert np.all(np.isfinite(np.asarray(logits)))
    names = [layer.name for layer in net.layers]
    assert {"block1_conv", "block1_norm", "block1_relu", "block1_pool", "gap", "head_conv"} <= set(names)


def test_variants_differ_only_in_norm_layer():
    normalized = (*model.NORMS, "in")
    shapes = {norm: [tuple(w.shape) for w in model.build_model(norm).trainable_weights] for norm in normalized}
    assert shapes["bn"] == shapes["gn"] == shapes["ln"] == shapes["in"]
    kinds = {norm: type(model.build_model(norm).get_layer("block2_norm")).__name__ for norm in normalized}
    assert kinds == {"bn": "FusedBatchNormalization", "gn": "ChannelStatsGroupNormalization",
                     "ln": "ChannelStatsGroupNormalization", "in": "ChannelStatsGroupNormalization"}
    assert model.build_model("ln").get_layer("block2_norm").groups == 1
    assert model.build_model("in").get_layer("block2_norm").groups == 12  # one group per channel


def test_unknown_norm_is_rejected_with_allowed_values():
    with pytest.raises(ValueError, match=r"'wn'.*bn, gn, ln, in, none"):
        model.build_model("wn")


def test_groups_that_do_not_divide_channels_name_the_layer():
    with pytest.raises(ValueError, match=r"groups=3 .* 8 channels .* 'block1_norm'"):
        model.build_model("gn", groups=3)


def test_l1_only_on_bn_conv_kernels():
    bn = model.build_model("bn", l1_strength=1e-3)
    convs = [layer for layer in bn.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(bn.losses) == len(convs)
    expected = sum(1e-3 * np.abs(np.asarray(layer.kernel)).sum() for layer in convs)
    np.testing.assert_allclose(float(sum(np.asarray(loss) for loss in bn.losses)), expected, rtol=1e-5)
    for layer in bn.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.gamma_regularizer is None and layer.beta_regularizer is None
    for norm in ("gn", "ln"):
        assert model.build_model(norm, l1_strength=1e-3).losses == []


def test_model_standardizes_raw_pixels_itself():
    net = model.build_model("ln")
    standardize = keras.Model(net.input, net.get_layer("standardize").output)
    out = np.asarray(standardize(np.array([0.0, 255.0], "float32").reshape(2, 1, 1, 1) * np.ones((2, 28, 28, 1))))
    np.testing.assert_allclose(out[0].max(), -model.MNIST_MEAN / model.MNIST_STD, rtol=1e-5)
    np.testing.assert_allclose(out[1].max(), (1 - model.MNIST_MEAN) / model.MNIST_STD, rtol=1e-5)


# -- normalizations against NumPy references ---------------------------------------------


def _random_affine(layer, channels):
    gamma = RNG.normal(1.0, 0.3, size=channels).astype("float32")
    beta = RNG.normal(0.0, 0.3, size=channels).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    return gamma, beta


def numpy_group_norm(x, groups, gamma, beta, eps):
    n, h, w, c = x.shape
    grouped = x.reshape(n, h, w, groups, c // groups)
    mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
    var = grouped.var(axis=(1, 2, 4), keepdims=True)
    return ((grouped - mean) / np.sqrt(var + eps)).reshape(x.shape) * gamma + beta


def test_batch_norm_matches_numpy_batch_statistics():
    x = RNG.normal(3.0, 2.0, size=(6, 5, 5, 8)).astype("float32")
    layer = model.norm_layer("bn", 8, "bn")
    layer.build(x.shape)
    gamma, beta = _random_affine(layer, 8)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    expected = (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta
    np.testing.assert_allclose(np.asarray(layer(x, training=True)), expected, atol=1e-5)


@pytest.mark.parametrize("norm, groups", [("gn", 4), ("gn", 2), ("ln", 1)])
def test_group_and_layer_norm_match_numpy(norm, groups):
    x = RNG.normal(-1.0, 4.0, size=(4, 6, 6, 16)).astype("float32")
    layer = model.norm_layer(norm, 16, norm, groups=groups)
    layer.build(x.shape)
    gamma, beta = _random_affine(layer, 16)
    expected = numpy_group_norm(x, 1 if norm == "ln" else groups, gamma, beta, layer.epsilon)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)


def test_instance_norm_is_per_image_and_channel_over_hw():
    """IN: each (image, channel) normalized over (H, W) alone, as the definition and Keras' groups=-1 say."""
    x = RNG.normal(1.5, 3.0, size=(3, 7, 7, 8)).astype("float32")
    x[:, :, :, 2] *= 50.0  # channels on very different scales: each must be brought to its own
    ours = model.norm_layer("in", 8, "in")
    ours.build(x.shape)
    gamma, beta = _random_affine(ours, 8)
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + ours.epsilon) * gamma + beta
    np.testing.assert_allclose(np.asarray(ours(x)), expected, atol=1e-5)
    keras_in = keras.layers.GroupNormalization(groups=-1, epsilon=ours.epsilon)
    keras_in.build(x.shape)
    keras_in.set_weights(ours.get_weights())
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(keras_in(x)), atol=1e-5)
    # LN over the same tensor is not IN: channel 2's scale dominates LN's one variance.
    ln = model.norm_layer("ln", 8, "ln")
    ln.build(x.shape)
    ln.set_weights(ours.get_weights())
    assert np.abs(np.asarray(ln(x)) - expected).max() > 0.1


def test_layer_norm_is_per_image_over_hwc():
    """LN here equals LayerNormalization(axis=(1, 2, 3)) with per-channel gamma/beta broadcast."""
    x = RNG.normal(2.0, 3.0, size=(3, 7, 7, 8)).astype("float32")
    ours = model.norm_layer("ln", 8, "ln")
    ours.build(x.shape)
    gamma, beta = _random_affine(ours, 8)
    full = keras.layers.LayerNormalization(axis=(1, 2, 3), epsilon=ours.epsilon)
    full.build(x.shape)
    full.gamma.assign(np.broadcast_to(gamma, (7, 7, 8)))
    full.beta.assign(np.broadcast_to(beta, (7, 7, 8)))
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(full(x)), atol=1e-5)
    assert full.count_params() == 7 * 7 * 8 * 2 > ours.count_params() == 8 * 2
    # The default LayerNormalization() normalizes each pixel over channels only: not the same.
    per_pixel = keras.layers.LayerNormalization(epsilon=ours.epsilon)
    assert np.abs(np.asarray(per_pixel(x)) - np.asarray(full(x))).max() > 0.1


@pytest.mark.parametrize("groups", [1, 2, 4, 8, -1])
def test_channel_stats_group_norm_equals_keras_layer(groups):
    x = RNG.normal(0.5, 2.0, size=(5, 9, 9, 8)).astype("float32")
    reference = keras.layers.GroupNormalization(groups=groups)
    fast = model.ChannelStatsGroupNormalization(groups=groups)
    reference.build(x.shape)
    fast.build(x.shape)
    _random_affine(reference, 8)
    fast.set_weights(reference.get_weights())
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(reference(x)), atol=1e-5)
    assert fast.get_config() == {**reference.get_config(), "name": fast.name}


def test_fused_batch_norm_equals_keras_layer():
    x = tf.constant(RNG.normal(2.0, 3.0, size=(6, 5, 5, 8)).astype("float32"))
    reference = keras.layers.BatchNormalization(momentum=0.9)
    fused = model.FusedBatchNormalization(momentum=0.9)
    for layer in (reference, fused):
        layer.build(x.shape)
    _random_affine(reference, 8)
    fused.set_weights(reference.get_weights())

    def forward_backward(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.sin(y))  # a loss whose gradient is not constant
        return [y, *tape.gradient(loss, [x, layer.gamma, layer.beta])]

    for ours, theirs in zip(forward_backward(fused), forward_backward(reference)):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5)
    # Moving statistics got the same update (biased variance, momentum 0.9) ...
    for ours, theirs in zip(fused.non_trainable_weights, reference.non_trainable_weights):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-6)
    # ... and inference uses them the same way.
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), np.asarray(reference(x, training=False)),
                               atol=1e-5)
    assert fused.get_config() == {**reference.get_config(), "name": fused.name}


def test_layer_table_tracks_receptive_field():
    rows = {name: (shape, params, receptive) for name, shape, params, receptive in
            model.layer_table(model.build_model("bn"))}
    assert rows["block1_conv"] == ((26, 26, 8), 72, 3)
    assert rows["block1_pool"] == ((13, 13, 8), 0, 4)
    assert rows["block2_conv"] == ((11, 11, 12), 8 * 12 * 9, 8)
    assert rows["block5_conv"] == ((5, 5, 16), 16 * 16 * 9, 20)
    by_hand = (26 * 26 * 8 * 9 + 11 * 11 * 12 * 8 * 9 + 9 * 9 * 16 * 12 * 9 + 7 * 7 * 16 * 16 * 9
               + 5 * 5 * 16 * 16 * 9 + 16 * 10)
    assert model.multiply_adds(model.build_model("bn")) == by_hand
    course = model.build_model("bn", architecture=model.COURSE_ARCHITECTURE)
    assert model.multiply_adds(model.build_model("bn")) < 0.5 * model.multiply_adds(course)


def test_architecture_specs_round_trip_and_spell_the_course_network():
    assert model.parse_architecture("8,16,8k1p,16,16,16") == model.COURSE_ARCHITECTURE
    for architecture in (model.ARCHITECTURE, model.COURSE_ARCHITECTURE):
        assert model.parse_architecture(model.architecture_spec(architecture)) == architecture


@pytest.mark.parametrize(
    "spec, message",
    [("8,x", "token 'x'"), ("8,12p,,16", "token ''"), ("0,8", "token '0'"), ("8k0", "token '8k0'"),
     ("8p,8p,8p,8p,8p", "shrinks the 28x28 image to nothing at '8p'")],
)
def test_bad_architecture_specs_are_rejected_naming_the_token(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        model.build_model("gn", architecture=spec)


def test_architecture_string_builds_that_network():
    rows = {name: (shape, params, receptive) for name, shape, params, receptive in
            model.layer_table(model.build_model("ln", architecture="8p,12,16"))}
    assert rows["block1_pool"] == ((13, 13, 8), 0, 4)
    assert rows["block2_conv"] == ((11, 11, 12), 8 * 12 * 9, 8)
    assert rows["block3_conv"] == ((9, 9, 16), 12 * 16 * 9, 12)
    assert model.trainable_params(model.build_model("bn", architecture="8p,12,16")) == (
        72 + 864 + 1728 + 160 + 2 * (8 + 12 + 16))


@pytest.mark.parametrize("norm", model.NORMS)
def test_pooling_before_relu_equals_the_usual_relu_then_pool(norm):
    """build_model pools before its ReLU (cheaper); values and gradients equal the usual order."""
    keras.utils.set_random_seed(3)
    net = model.build_model(norm)
    pools = {layer.name.removesuffix("_pool"): layer for layer in net.layers
             if isinstance(layer, keras.layers.MaxPooling2D)}
    assert pools
    x = keras.Input((28, 28, 1))
    y = x
    for layer in net.layers[1:]:
        if isinstance(layer, keras.layers.MaxPooling2D):
            continue  # re-applied after its block's ReLU below
        y = layer(y)
        block = layer.name.removesuffix("_relu")
        if block != layer.name and block in pools:
            y = pools[block](y)
    usual = keras.Model(x, y)
    assert any(isinstance(layer, keras.layers.MaxPooling2D) for layer in usual.layers)
    images = tf.constant(RNG.uniform(0, 255, size=(6, 28, 28, 1)).astype("float32"))
    outputs = []
    for candidate in (net, usual):
        with tf.GradientTape() as tape:
            logits = candidate(images, training=True)
            loss = tf.reduce_sum(logits * tf.range(10, dtype=tf.float32))
        outputs.append((logits.numpy(), [g.numpy() for g in tape.gradient(loss, net.trainable_weights)]))
    np.testing.assert_allclose(outputs[0][0], outputs[1][0], rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(outputs[0][1], outputs[1][1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def _same_image_in_two_batches(seed=11):
    """Image 0 is shared; the other 7 images of each batch differ (the second batch brighter)."""
    rng = np.random.default_rng(seed)
    shared = rng.integers(0, 256, size=(1, 28, 28, 1))
    others_a = rng.integers(0, 128, size=(7, 28, 28, 1))
    others_b = rng.integers(128, 256, size=(7, 28, 28, 1))
    return (np.concatenate([shared, others_a]).astype("float32"),
            np.concatenate([shared, others_b]).astype("float32"))


@pytest.mark.parametrize("norm", ["gn", "ln", "in"])
@pytest.mark.parametrize("training", [False, True])
def test_gn_ln_and_in_predict_an_image_the_same_whatever_shares_its_batch(norm, training):
    keras.utils.set_random_seed(5)
    net = model.build_model(norm)
    batch_a, batch_b = _same_image_in_two_batches()
    np.testing.assert_allclose(np.asarray(net(batch_a, training=training))[0],
                               np.asarray(net(batch_b, training=training))[0], atol=1e-5)


def test_bn_in_training_mode_predicts_an_image_from_its_batch():
    keras.utils.set_random_seed(5)
    net = model.build_model("bn")
    batch_a, batch_b = _same_image_in_two_batches()
    # Training mode: statistics of the batch, so the neighbours change image 0's logits.
    assert np.abs(np.asarray(net(batch_a, training=True))[0] - np.asarray(net(batch_b, training=True))[0]).max() > 1e-2
    # Inference mode: the moving averages, the same for every batch.
    np.testing.assert_allclose(np.asarray(net(batch_a, training=False))[0],
                               np.asarray(net(batch_b, training=False))[0], atol=1e-5)


def test_readme_counts_the_gamma_and_beta_that_layer_normalization_over_hwc_would_learn():
    # The README says why LN is GroupNormalization(groups=1): LayerNormalization(axis=(1, 2, 3)) learns an
    # H*W*C-sized gamma and beta. The number it gives must be this network's.
    net = model.build_model("ln")
    total = 0
    for layer in net.layers:
        if layer.name.endswith("_norm"):
            full = keras.layers.LayerNormalization(axis=(1, 2, 3))
            full.build((None, *layer.output.shape[1:]))
            total += sum(int(np.prod(weight.shape)) for weight in full.trainable_weights)
    with open(os.path.join(ROOT, "README.md")) as handle:
        assert f"γ and β, {total:,} values here" in handle.read()


def test_the_control_has_no_normalization_and_a_bias_where_beta_was():
    control, bn = model.build_model("none"), model.build_model("bn")
    assert not [layer for layer in control.layers if layer.name.endswith("_norm")]
    convs = [layer for layer in control.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.use_bias for layer in convs] == [True] * 5 + [False]  # the head, as in every variant, has none
    assert [layer.name for layer in convs] == [layer.name for layer in bn.layers if isinstance(layer, keras.layers.Conv2D)]
    # Each normalized conv's gamma and beta (2 per channel) become one bias per channel.
    channels = sum(spec.filters for spec in model.ARCHITECTURE)
    assert model.trainable_params(control) == model.trainable_params(bn) - channels
    assert control.losses == []  # L1 belongs to the BN variant only
    np.testing.assert_array_equal(np.isfinite(np.asarray(control(RNG.integers(0, 256, (2, 28, 28, 1)).astype(
        "float32")))), True)


@pytest.mark.parametrize("norm", variants.available())
def test_scaling_a_normalized_kernel_changes_nothing_in_training_mode(norm):
    # A conv followed by a normalization computes the same function at any scale of its kernel (up to the
    # norm's epsilon): the reason an L1 pull on a kernel's size changes only training, not what is computed.
    keras.utils.set_random_seed(2)
    net = model.build_model(norm)
    pixels = RNG.integers(0, 256, size=(16, 28, 28, 1)).astype("float32")
    before = np.asarray(net(pixels, training=True))
    layer = net.get_layer("block3_conv")
    layer.kernel.assign(layer.kernel * 10.0)
    after = np.asarray(net(pixels, training=True))
    change = np.abs(after - before).max() / np.abs(before).max()
    if norm == "none":
        assert change > 0.5  # without a norm the tenfold kernel passes on through ReLU and the rest
    else:
        assert change < 1e-3, change


@pytest.fixture(scope="module")
def trained_models():
    from mnist_norm import rundir
    from conftest import RESULTS

    return {norm: rundir.load_trained_model(os.path.join(RESULTS, norm, "seed-1")) for norm in ("bn", "gn", "ln", "in")}


@pytest.mark.parametrize("a, b", [(0.25, 0.0), (0.5, 40.0), (1.0, 128.0), (3.0, -200.0)])
def test_instance_norm_is_blind_to_contrast_and_brightness(trained_models, test_set, a, b):
    # The first conv has no bias and valid padding: a*x + b (a > 0) scales its output by a and adds a constant per
    # channel, and IN's per-(image, channel) statistics take both away. BN's moving averages, GN's and LN's
    # statistics over several channels do not.
    images = test_set[0][:300].astype("float32")
    changes = {}
    for norm, network in trained_models.items():
        before = model.predict_probabilities(network, images)
        after = model.predict_probabilities(network, a * images + b)  # no clipping: outside 0-255 on purpose
        changes[norm] = float(np.abs(after - before).max())
    assert changes["in"] < 1e-3, changes
    assert min(changes[norm] for norm in ("bn", "gn", "ln")) > 1e-2, changes


# ----------------------------------------------------------------------------- the group axis (GN paper, Table 3)

AXIS = [{"groups": 1}, {"groups": 2}, {"group_size": 4}, {"groups": 4}, {"group_size": 2}, {"group_size": 1}]


def _copy_weights(source, target):
    for a, b in zip(source.weights, target.weights):
        b.assign(a)


@pytest.mark.parametrize("ends, setting", [("ln", {"groups": 1}), ("in", {"group_size": 1})])
def test_the_axis_ends_are_ln_and_in(ends, setting):
    """groups = 1 is LN and one channel per group is IN: the same network, outputs within 1e-6 on a batch."""
    keras.utils.set_random_seed(3)
    reference = model.build_model(ends)
    point = model.build_model("gn", **setting)
    _copy_weights(reference, point)
    batch = np.random.default_rng(4).integers(0, 256, size=(16, 28, 28, 1)).astype("float32")
    for training in (False, True):
        np.testing.assert_allclose(np.asarray(point(batch, training=training)),
                                   np.asarray(reference(batch, training=training)), atol=1e-6)
    assert model.groups_per_layer(ends) == model.groups_per_layer("gn", **setting)


@pytest.mark.parametrize("setting", AXIS, ids=lambda s: "-".join(f"{k}{v}" for k, v in s.items()))
def test_every_point_of_the_axis_is_group_norm_per_image(setting):
    """Each layer normalizes each image over (H, W, its group's channels), as the NumPy definition, whatever else
    is in the batch."""
    keras.utils.set_random_seed(6)
    net = model.build_model("gn", **setting)
    norms = [layer for layer in net.layers if layer.name.endswith("_norm")]
    expected_groups = [spec.filters // setting["group_size"] if "group_size" in setting else setting["groups"]
                       for spec in model.ARCHITECTURE]
    assert [layer.groups for layer in norms] == expected_groups
    for layer in norms[:3]:  # the layers of 8, 12 and 16 channels
        channels = layer.input.shape[-1]
        x = RNG.normal(2.0, 3.0, size=(5, 4, 4, channels)).astype("float32")
        gamma, beta = _random_affine(layer, channels)
        np.testing.assert_allclose(np.asarray(layer(x)), numpy_group_norm(x, layer.groups, gamma, beta,
                                                                          layer.epsilon), atol=1e-5)
    batch_a, batch_b = _same_image_in_two_batches()
    np.testing.assert_allclose(np.asarray(net(batch_a))[0], np.asarray(net(batch_b))[0], atol=1e-5)


def test_a_group_size_that_does_not_divide_a_layer_names_it():
    with pytest.raises(ValueError, match=r"group size 3 does not divide the 8 channels of layer 'block1'"):
        model.build_model("gn", group_size=3)
    with pytest.raises(ValueError, match=r"group size 8 does not divide the 12 channels of layer 'block2'"):
        model.build_model("gn", group_size=8)


def test_the_new_points_run_the_same_operations_as_gn():
    """Inference cost along the axis: every GN point between LN and IN traces the same operations on tensors of the
    same shapes as the study's GN (only the averaging matrix's values differ), so it costs what GN costs."""
    def operations(net):
        graph = tf.function(net).get_concrete_function(tf.TensorSpec((1, 28, 28, 1), tf.float32)).graph
        return sorted((op.type, tuple(tuple(o.shape) for o in op.outputs)) for op in graph.get_operations()
                      if op.type not in ("Placeholder", "Const", "ReadVariableOp", "Identity", "NoOp"))

    reference = operations(model.build_model("gn"))
    for setting in ({"groups": 2}, {"group_size": 4}, {"group_size": 2}):
        assert operations(model.build_model("gn", **setting)) == reference, setting
