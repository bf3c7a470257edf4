"""The four variants after Group Norm (issue 46), each against its paper's formula in NumPy, in training and at
inference, and as a model that saves, loads and exports like the others."""

import collections
import dataclasses

import keras
import numpy as np
import pytest

from mnist_norm import deploy
from mnist_norm import network as model
from mnist_norm import runtimes
from mnist_norm import variants

AFTER_GN = ("brn", "gnws", "frn", "rms")
# Keras' BatchNormalization(renorm=True) came with Keras 3.14: older supported versions build the other three.
BUILT = tuple(norm for norm in AFTER_GN if not variants.missing_keras(norm))
needs_renorm = pytest.mark.skipif("brn" not in BUILT, reason=str(variants.missing_keras("brn")))


def _activations(seed=0, shape=(4, 6, 6, 3)):
    rng = np.random.default_rng(seed)
    # Channels of other means and scales, as a conv's outputs have.
    return (rng.normal(size=shape) * np.array([1.0, 3.0, 0.5]) + np.array([2.0, -1.0, 0.3])).astype("float32")


@needs_renorm
def test_batch_renorm_corrects_the_batch_statistics_towards_the_moving_ones_as_the_paper_writes():
    x = _activations()
    layer = model.RampedBatchRenormalization(momentum=0.9, renorm_momentum=0.9, r_max=3.0, d_max=5.0,
                                             relax_from=10, r_max_at=30, d_max_at=20)
    layer.build(x.shape)
    renorm_mean, renorm_stddev = np.array([1.0, 0.5, 0.0], "float32"), np.array([1.0, 2.0, 0.1], "float32")
    gamma, beta = np.array([1.0, 2.0, 0.5], "float32"), np.array([0.0, 1.0, -1.0], "float32")
    for variable, value in ((layer.renorm_mean, renorm_mean), (layer.renorm_stddev, renorm_stddev),
                            (layer.gamma, gamma), (layer.beta, beta)):
        variable.assign(value)
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    sigma = np.sqrt(variance + layer.epsilon)
    for step, r_max, d_max in ((0, 1.0, 0.0), (15, 1.5, 2.5), (40, 3.0, 5.0)):  # plain BN, relaxing, relaxed
        layer.step.assign(float(step))
        assert [float(bound) for bound in layer.clipping()] == pytest.approx([r_max, d_max])
        r = np.clip(sigma / renorm_stddev, 1 / r_max, r_max)
        d = np.clip((mean - renorm_mean) / renorm_stddev, -d_max, d_max)
        expected = ((x - mean) / sigma * r + d) * gamma + beta  # Ioffe 2017, Algorithm 1
        np.testing.assert_allclose(np.asarray(layer(x, training=True)), expected, rtol=1e-4, atol=1e-4)
        assert float(layer.step) == step + 1  # each training step moves the schedule
        # The moving statistics the renormalization compares with follow the batches.
        np.testing.assert_allclose(np.asarray(layer.renorm_mean), 0.9 * renorm_mean + 0.1 * mean, rtol=1e-5)
        layer.renorm_mean.assign(renorm_mean)
        layer.renorm_stddev.assign(renorm_stddev)
    moving_mean, moving_variance = np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)
    inference = gamma * (x - moving_mean) / np.sqrt(moving_variance + layer.epsilon) + beta  # BN's test mode
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), inference, rtol=1e-4, atol=1e-4)


def test_weight_standardization_convolves_with_each_output_channels_standardized_kernel():
    x = _activations(1, (2, 7, 7, 3))
    conv = model.StandardizedConv2D(5, 3, use_bias=False)
    conv.build(x.shape)
    kernel = np.asarray(conv.kernel)
    standardized = (kernel - kernel.mean(axis=(0, 1, 2))) / np.sqrt(kernel.var(axis=(0, 1, 2)) + conv.epsilon)
    plain = keras.layers.Conv2D(5, 3, use_bias=False)
    plain.build(x.shape)
    plain.kernel.assign(standardized)
    np.testing.assert_allclose(np.asarray(conv(x)), np.asarray(plain(x)), rtol=1e-4, atol=1e-4)
    # Invariant to the kernel's scale and to a shift of each output channel's weights: what WS is for.
    conv.kernel.assign(3.0 * kernel + 0.7)
    np.testing.assert_allclose(np.asarray(conv(x)), np.asarray(plain(x)), rtol=1e-3, atol=1e-3)


def test_filter_response_normalization_and_its_threshold_per_image_and_channel():
    x = _activations(2)
    layer = model.FilterResponseNormalization()
    layer.build(x.shape)
    gamma, beta, tau = (np.array(v, "float32") for v in ([1.0, 2.0, 0.5], [0.0, 0.5, -1.0], [-0.2, 0.1, 0.0]))
    for variable, value in ((layer.gamma, gamma), (layer.beta, beta), (layer.tau, tau)):
        variable.assign(value)
    nu2 = np.mean(x ** 2, axis=(1, 2), keepdims=True)
    expected = np.maximum(gamma * x / np.sqrt(nu2 + layer.epsilon) + beta, tau)  # Singh & Krishnan 2020, eq. 1-2
    for training in (True, False):  # no batch statistics: the same in training and at inference
        np.testing.assert_allclose(np.asarray(layer(x, training=training)), expected, rtol=1e-4, atol=1e-5)
    # No batch involved: an image alone gives the rows it gave in the batch.
    np.testing.assert_allclose(np.asarray(layer(x[1:2])), expected[1:2], rtol=1e-4, atol=1e-5)


def test_rms_norm_over_each_images_h_w_c_with_a_scale_per_channel():
    x = _activations(3)
    layer = model.ChannelRMSNormalization()
    layer.build(x.shape)
    scale = np.array([1.0, 2.0, 0.5], "float32")
    layer.scale.assign(scale)
    expected = x / np.sqrt(np.mean(x ** 2, axis=(1, 2, 3), keepdims=True) + layer.epsilon) * scale  # no mean taken
    np.testing.assert_allclose(np.asarray(layer(x, training=True)), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), expected, rtol=1e-4, atol=1e-5)
    assert isinstance(layer, keras.layers.RMSNormalization) and layer.scale.shape == (3,)


def test_each_new_variant_is_built_as_its_record_says():
    for norm in BUILT:
        network = model.build_model(norm)
        kinds = collections.Counter(type(layer).__name__ for layer in network.layers)
        relus = kinds["ReLU"]
        assert relus == (0 if variants.VARIANTS[norm].activation else len(model.ARCHITECTURE)), norm
        assert (kinds["StandardizedConv2D"] > 0) == (norm == "gnws"), norm
    counts = {norm: model.trainable_params(model.build_model(norm)) for norm in ("gn", *BUILT)}
    channels = sum(spec.filters for spec in model.ARCHITECTURE)
    # BRN and GN + WS learn what BN and GN learn; FRN adds a threshold per channel; RMSNorm has no shift.
    expected = {"gn": 7568, "brn": 7568, "gnws": 7568, "frn": 7568 + channels, "rms": 7568 - channels}
    assert counts == {norm: expected[norm] for norm in counts}


@pytest.mark.slow
@pytest.mark.parametrize("norm", BUILT)
def test_each_new_variant_saves_loads_and_exports_like_the_others(norm, tmp_path, test_set):
    keras.utils.set_random_seed(1)
    network = model.build_model(norm)
    images = test_set[0][:64].astype("float32")
    network(images, training=True)  # a training step's statistics, so that BRN's moving averages are not the start
    expected = np.asarray(network(images, training=False))
    network.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(np.asarray(loaded(images, training=False)), expected, rtol=1e-5, atol=1e-5)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(expected))
    float32 = tmp_path / "model.tflite"
    float32.write_bytes(deploy.convert(network))
    np.testing.assert_allclose(runtimes.LiteRTModel(str(float32))(images), probabilities, atol=1e-4)
    int8 = tmp_path / "model_int8.tflite"
    int8.write_bytes(deploy.convert(network, test_set[0][:64]))
    assert runtimes.LiteRTModel(str(int8))(images).shape == (64, 10)
    ops = runtimes.LiteRTModel(str(float32)).ops()
    if variants.VARIANTS[norm].folds:  # BRN at inference is BN: folded into the conv, as the converter does
        assert deploy.fold_batch_norm(network).count_params() > 0
        assert "RSQRT" not in ops and "MEAN" in ops  # only the global average pool's mean
    if norm == "gnws":  # the standardized kernels are constants of the exported graph: GN's ops, nothing more
        gn_ops = runtimes.LiteRTModel(_exported(tmp_path / "gn.tflite", model.build_model("gn"))).ops()
        assert ops == gn_ops


def _exported(path, network):
    path.write_bytes(deploy.convert(network))
    return str(path)


def test_a_new_variant_refuses_another_variants_flags(capsys):
    import train

    assert set(AFTER_GN) == {n for n in variants.ALL_NORMS if n not in ("bn", "gn", "ln", "in", "none")}
    for norm in AFTER_GN:
        for flag, value, owner in (("--l1", "0.001", "bn"), ("--groups", "2", "gn")):
            with pytest.raises(SystemExit) as info:
                train.parse_args(["--norm", norm, flag, value])
            assert info.value.code == 2
            error = capsys.readouterr().err
            assert f"{flag} {value} applies to --norm {owner} only" in error or "needs Keras" in error


def test_a_variant_the_installed_keras_cannot_build_is_one_line_and_exit_2(monkeypatch, capsys):
    import train

    monkeypatch.setattr(variants, "VARIANTS", {**variants.VARIANTS,
                                               "brn": dataclasses.replace(variants.VARIANTS["brn"], keras="99.0")})
    with pytest.raises(SystemExit) as info:
        train.parse_args(["--norm", "brn"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().endswith("--norm brn: needs Keras >= 99.0 (its layer is Keras' own); "
                                                    f"this Python has Keras {keras.__version__}")


def test_a_constant_per_channel_is_taken_away_by_instance_norm_but_not_by_frn_or_rms_norm():
    """Why grey paper reaches FRN and RMSNorm: a brightness added to every pixel becomes a constant per channel after
    the first conv (no bias, valid padding); IN subtracts each channel's mean, FRN and RMSNorm subtract none."""
    x = _activations(4)
    shifted = x + np.array([3.0, -2.0, 1.5], "float32")
    instance = model.norm_layer("in", 3, "in_norm")
    np.testing.assert_allclose(np.asarray(instance(shifted)), np.asarray(instance(x)), atol=1e-4)
    for norm in ("frn", "rms"):
        layer = model.norm_layer(norm, 3, f"{norm}_norm")
        assert np.abs(np.asarray(layer(shifted)) - np.asarray(layer(x))).max() > 0.1, norm


def test_the_verdict_calls_a_difference_noise_unless_it_exceeds_the_wider_seed_range():
    from mnist_norm.report import after_gn

    assert after_gn._compare([0.9950, 0.9946, 0.9948], [0.9940, 0.9942, 0.9944]).startswith("+0.06 points (above")
    assert "within the seeds' range" in after_gn._compare([0.9950, 0.9930], [0.9940, 0.9942])
    assert after_gn._compare([0.9900, 0.9902], [0.9940, 0.9942]).startswith("-0.40 points (below")

    def entry(accuracies):
        runs = [{"seed": k + 1, "final_accuracy": a} for k, a in enumerate(accuracies)]
        return {"runs": runs, "final_accuracy_mean": float(np.mean(accuracies)),
                "final_accuracy_std": float(np.std(accuracies, ddof=1)), "config": {"epochs": 20, "batch_size": 128}}

    summary = {"variants": {"ln": entry([0.9945, 0.9940, 0.9950]), "rms": entry([0.9930, 0.9932, 0.9934])}}
    verdict = after_gn.study_verdict(summary)
    assert verdict.startswith("After 20 epochs at batch 128 (test accuracy, mean ± std of seeds 1, 2, 3): RMSNorm ")
    assert "against LN's 99.45 %: -0.13 points (below" in verdict and "Zhang & Sennrich 2019" in verdict
    assert "BRN" not in verdict  # a variant without runs is not spoken of


def test_the_batch_size_verdicts_answer_from_the_runs_beside_the_variant_reworked():
    from mnist_norm.report import after_gn

    def runs(norm, by_batch):
        return [{"norm": norm, "batch_size": batch, "seed": seed + 1, "final_accuracy": value}
                for batch, values in by_batch.items() for seed, value in enumerate(values)]

    settings = {"epochs": 2, "seeds": [1, 2], "lr_rule": "a rule"}
    base = runs("bn", {2: [0.980, 0.982], 8: [0.990, 0.991], 512: [0.988, 0.989]}) + \
        runs("gn", {2: [0.991, 0.992], 8: [0.990, 0.991], 512: [0.979, 0.980]})
    worse = {"settings": settings, "runs": base + runs("brn", {2: [0.970, 0.971], 8: [0.985, 0.986],
                                                               512: [0.988, 0.989]})}
    better = {"settings": settings, "runs": base + runs("brn", {2: [0.990, 0.991], 8: [0.990, 0.991],
                                                                512: [0.988, 0.989]})}
    assert "**Does BRN fix small batches?** No, not here: batch 2: BRN 97.05 %" in after_gn.batch_size_verdict(worse)
    assert "**Does BRN fix small batches?** Yes, here" in after_gn.batch_size_verdict(better)
    closing = {"settings": settings, "runs": base + runs("gnws", {2: [0.991, 0.992], 8: [0.990, 0.991],
                                                                  512: [0.989, 0.990]})}
    verdict = after_gn.batch_size_verdict(closing)
    assert "Yes, here: at batch 512 GN is 0.90 points below BN" in verdict and "BRN" not in verdict
    with_gap = {"settings": settings, "runs": base + runs("gnws", {2: [0.991, 0.992], 8: [0.990, 0.991],
                                                                   512: [0.979, 0.980]})}
    assert "GN's gap to BN at large batches?** No, not here" in after_gn.batch_size_verdict(with_gap)


def test_gn_with_weight_standardization_is_blind_to_contrast_and_brightness_like_in():
    """The first conv's standardized kernels sum to zero over each output channel's window, so a brightness added to
    every pixel (after the network's own rescaling, still a constant) changes none of its outputs (valid padding: every
    window is whole); GN then takes away the contrast's scale. Exact but for GN's epsilon."""
    keras.utils.set_random_seed(3)
    network = model.build_model("gnws")
    pixels = np.random.default_rng(5).integers(0, 256, size=(8, 28, 28, 1)).astype("float32")
    reference = keras.ops.convert_to_numpy(keras.ops.softmax(network(pixels, training=False)))
    for a, b in ((0.5, 100.0), (1.0, 60.0), (2.0, -150.0)):
        changed = keras.ops.convert_to_numpy(keras.ops.softmax(network(a * pixels + b, training=False)))
        np.testing.assert_allclose(changed, reference, atol=2e-3)
    # GN without WS has no such blindness: its first conv passes a brightness on.
    plain = model.build_model("gn")
    before = np.asarray(plain(pixels, training=False))
    assert np.abs(np.asarray(plain(pixels + 100.0, training=False)) - before).max() > 1e-2
