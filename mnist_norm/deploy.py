"""Deploys the trained models with LiteRT and measures what each normalization costs at inference.

`export` converts each finished run (`<runs>/<norm>/seed-<k>/` or `<runs>/<norm>/`, a result.json and a
model.keras) with TensorFlow's LiteRT converter into two files beside its model.keras:
    model.tflite        float32: raw 0-255 pixels (batch, 28, 28, 1) float32 -> 10 probabilities
    model_int8.tflite   full-integer post-training quantization, calibrated on training images (never test
                        images): raw pixels as uint8 in (scale 1, so the pixel values themselves), the 10
                        probabilities as uint8 out (scale 1/256)
Both run with the LiteRT interpreter (`ai-edge-litert`), one thread by default.

At inference a batch normalization is a fixed per-channel scale and shift, so it folds into the convolution
before it (`fold_batch_norm`: kernel x gamma/sqrt(var + eps), bias beta - mean x gamma/sqrt(var + eps)): the
folded BN network is the control's plain conv network with other weights, and the converter does the same, so
the BN graph holds no normalization op. GN and LN measure every image again at run time (MEAN, SQUARE, RSQRT,
... per norm), and their int8 graphs fall back to float around those statistics.

`study` times every runtime (keras: the model under tf.function, as its SavedModel serves it; litert-f32;
litert-int8) and model side by side in one process with one thread: the latency is the median of single-image
calls, the throughput the median of batch-256 calls, both taken in interleaved rounds so that a slower moment
of the machine falls on all of them alike; accuracy on the full test set. One core's matrix-multiply peak,
measured in the same run, gives the ceiling: the network's multiply-adds per image at that peak.
"""

import collections
import csv
import functools
import importlib.metadata
import io
import os
import statistics
import sys
import tempfile
import time
import warnings

from . import quiet_tf  # noqa: E402

quiet_tf.start()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from . import data as data_lib  # noqa: E402
from . import network as model_lib  # noqa: E402
from . import rundir  # noqa: E402
from . import machine  # noqa: E402
from . import runtimes  # noqa: E402
from . import variants  # noqa: E402

CALIBRATION_IMAGES = 1000  # the first training images: what the int8 ranges are measured on
THROUGHPUT_BATCH = 256


class DeployError(ValueError):
    """A run folder or model file that cannot be exported or run (the message names it)."""


# ----------------------------------------------------------------------------- BN folding


def fold_batch_norm(network):
    """The BN model `network` with each batch normalization folded into the conv before it.

    Returns the control's network (`build_model("none")`: a conv with a bias where conv + BN was) whose
    outputs equal `network`'s in inference mode: a BN at test time is y = gamma (x - mean) / sqrt(var + eps) +
    beta with fixed statistics, a per-channel scale and shift that a conv's kernel and bias absorb.
    """
    convs = [layer for layer in network.layers if isinstance(layer, keras.layers.Conv2D)]
    norms = {layer.name: layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)}
    if not norms:
        raise DeployError(f"model {network.name!r} has no BatchNormalization layer to fold")
    layer_names = {layer.name for layer in network.layers}
    architecture = tuple(
        model_lib.ConvSpec(conv.name[: -len("_conv")], conv.filters, conv.kernel_size[0],
                           pool_after=f"{conv.name[: -len('_conv')]}_pool" in layer_names)
        for conv in convs if conv.name != "head_conv"
    )
    folded = model_lib.build_model(model_lib.CONTROL, architecture=architecture)
    for conv in convs:
        kernel = conv.kernel.numpy()
        if conv.name == "head_conv":  # no norm after it, and no bias in either network
            folded.get_layer(conv.name).set_weights([kernel])
            continue
        norm = norms[conv.name.replace("_conv", "_norm")]
        scale = norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)
        bias = norm.beta.numpy() - norm.moving_mean.numpy() * scale
        folded.get_layer(conv.name).set_weights([kernel * scale, bias])  # kernel (kh, kw, in, out): out last
    return folded


# ----------------------------------------------------------------------------- export


def finished_runs(runs_dir, norms=None, seeds=None):
    """[(norm, seed, run folder)] of the finished runs under `runs_dir` that kept their model.keras, of `norms`
    (default: every variant this Keras can build)."""
    norms = variants.available() if norms is None else norms
    if not os.path.isdir(runs_dir):
        raise DeployError(f"--runs {runs_dir!r}: no such folder")
    found = [(norm, result["seed"], result["run_dir"])
             for norm, results in rundir.collect_results(runs_dir).items() if norm in norms
             for result in results
             if (seeds is None or result["seed"] in seeds) and os.path.exists(
                 rundir.file(result["run_dir"], "model"))]
    if not found:
        model_file, result_file = rundir.FILES["model"], rundir.FILES["result"]
        raise DeployError(f"--runs {runs_dir!r}: no finished run with a {model_file} (expected {rundir.layout()} "
                          f"holding {result_file} and {model_file}; train.py writes them)")
    return found


def _saved_model(network, folder):
    """Writes `network` (logits) as the SavedModel train.py exports (probabilities), what the converter reads."""
    model_lib.probability_model(network).export(folder, verbose=False)


def _quantize(converter, calibration):
    """Full-integer post-training quantization, its value ranges measured on `calibration` (raw 0-255 images)."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None].astype("float32")] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]


def convert(network, calibration=None):
    """The LiteRT flatbuffer of a logits `network` serving probabilities: float32, or int8 when `calibration`
    (raw 0-255 training images, (N, 28, 28, 1)) is given."""
    with tempfile.TemporaryDirectory() as folder:
        _saved_model(network, folder)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if calibration is not None:
            _quantize(converter, calibration)
            # Raw pixels are already 0-255 integers: uint8 with scale 1 is the image file's own values.
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
        with quiet_tf.cpp_lines_filtered():
            return converter.convert()


def int8_layer_errors(network, calibration, checking):
    """Where int8 departs from float: per quantized tensor of the int8 graph, its error against the float graph
    on the `checking` images (training images other than the calibration's), with TensorFlow's quantization
    debugger. Returns [{"op", "tensor", "rmse", "scale", "rmse_steps"}] in graph order; rmse_steps is the error
    in quantization steps (rounding alone gives 1/sqrt(12) = 0.29)."""
    with tempfile.TemporaryDirectory() as folder:
        _saved_model(network, folder)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        _quantize(converter, calibration)
        with quiet_tf.cpp_lines_filtered(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the debugger runs tf.lite.Interpreter, deprecated for LiteRT's
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=lambda: ([image[None].astype("float32")] for image in checking))
            debugger.run()
            table = io.StringIO()
            debugger.layer_statistics_dump(table)
    rows = []
    for row in csv.DictReader(io.StringIO(table.getvalue())):
        rmse, scale = float(row["mean_squared_error"]) ** 0.5, float(row["scale"])
        # A fused tensor ("block2_relu/Relu;block2_norm/...;block2_conv/convolution") is named by its conv.
        layer = row["tensor_name"].split(";")[-1].split("/")
        tensor = "/".join(part.removesuffix("_1") for part in layer[1:]) if len(layer) > 1 else "probabilities"
        rows.append({"op": row["op_name"], "tensor": tensor, "rmse": round(rmse, 6), "scale": round(scale, 6),
                     "rmse_steps": round(rmse / scale, 4) if scale else None})
    return rows


def calibration_images(count=CALIBRATION_IMAGES, source="bundled", data_dir=None):
    """The first `count` training images (raw 0-255), what int8's value ranges are measured on."""
    (images, _), _ = data_lib.load_mnist(source, data_dir)
    return images[:count]


def exported(run_dir):
    """Whether the run's LiteRT files are there (a run trained afresh starts in an empty folder: they go with it)."""
    return all(os.path.isfile(runtimes.path(run_dir, runtime)) for runtime in runtimes.LITERT)


def export_run(run_dir, calibration):
    """Writes model.tflite and model_int8.tflite beside the run's model.keras; returns their paths."""
    network = rundir.load_trained_model(run_dir)
    paths = []
    for runtime, images in zip(runtimes.LITERT, (None, calibration)):
        flatbuffer = convert(network, images)
        path = runtimes.path(run_dir, runtime)
        rundir.write_bytes(path, flatbuffer)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- running


def predictions(predict_fn, images, batch=THROUGHPUT_BATCH):
    """The predicted digits, in batches of `batch` (the last one padded to full size: no batch size changes)."""
    digits = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        padded = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        digits.append(predict_fn(padded)[: len(chunk)].argmax(axis=1))
    return np.concatenate(digits)


def accuracy(predict_fn, images, labels, batch=THROUGHPUT_BATCH):
    """Test accuracy, from `predictions`."""
    return float(np.mean(predictions(predict_fn, images, batch) == labels))


# ----------------------------------------------------------------------------- study


def _timed(call):
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def one_thread():
    """Runs TensorFlow's own ops on one thread, as the interpreters run (possible before TensorFlow starts
    computing in this process only); returns the threads Keras runs on: 1, or "default" when too late."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return 1
    except RuntimeError:
        print("notice: TensorFlow has started in this process already; the keras runtime keeps its default "
              "threads (run deploy.py as a command to time it on one)", file=sys.stderr)
        return "default"


def study(runs_dir, output_dir, seeds, latency_calls=1000, throughput_calls=60, rounds=10, keras_threads=1,
          norms=None):
    """Accuracy, graph, size, latency and throughput of every finished run of `norms` (default: every variant this
    Keras builds) and runtime; writes summary.json."""
    started = time.perf_counter()
    found = finished_runs(runs_dir, norms, seeds=seeds)
    missing = [runtimes.path(run_dir, runtime) for _, _, run_dir in found for runtime in runtimes.LITERT
               if not os.path.exists(runtimes.path(run_dir, runtime))]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DeployError(f"{missing[0]}{more} missing: run `python deploy.py export --runs {runs_dir}` first")
    (train_images, _), (images, labels) = data_lib.load_mnist("bundled", None)
    models = {(norm, seed, runtime): runtimes.load(run_dir, runtime)
              for norm, seed, run_dir in found for runtime in runtimes.NAMES}
    print(f"{len(models)} model files: accuracy on {len(images)} test images")
    run_dirs = {(norm, seed): run_dir for norm, seed, run_dir in found}
    rows, correct = {}, {}
    for (norm, seed, runtime), predict_fn in models.items():  # runtimes.NAMES order: float32 before int8
        size = os.path.getsize(runtimes.path(run_dirs[norm, seed], runtime))
        right = correct[norm, seed, runtime] = predictions(predict_fn, images) == labels
        rows[norm, seed, runtime] = {"norm": norm, "seed": seed, "runtime": runtime,
                                     "accuracy": round(float(right.mean()), 6), "ops": predict_fn.ops(), "bytes": size}
        if runtime == "litert-int8":  # which test images int8 answers otherwise than float32
            float_right = correct[norm, seed, "litert-f32"]
            rows[norm, seed, runtime]["int8_vs_float"] = {"lost": int(np.sum(float_right & ~right)),
                                                         "gained": int(np.sum(~float_right & right))}
    single = [images[i:i + 1] for i in range(latency_calls)]
    batch = images[:THROUGHPUT_BATCH]
    latency = collections.defaultdict(list)
    throughput = collections.defaultdict(list)
    rounds = max(1, min(rounds, latency_calls))
    per_round, batches_per_round = latency_calls // rounds, max(1, throughput_calls // rounds)
    for round_index in range(rounds):  # interleaved: every model and runtime in each round
        print(f"timing round {round_index + 1} of {rounds}: {per_round} single images and "
              f"{batches_per_round} batches of {THROUGHPUT_BATCH} per model and runtime", flush=True)
        for key, predict_fn in models.items():
            predict_fn(single[0])  # warm-up (tracing, the interpreter's resize)
            for image in single[round_index * per_round:(round_index + 1) * per_round]:
                latency[key].append(_timed(functools.partial(predict_fn, image)))
            predict_fn(batch)
            for _ in range(batches_per_round):
                throughput[key].append(_timed(functools.partial(predict_fn, batch)))
    for key, row in rows.items():
        row["latency_ms_batch1"] = round(1000 * statistics.median(latency[key]), 5)
        row["images_per_s_batch256"] = round(THROUGHPUT_BATCH / statistics.median(throughput[key]), 1)
    peak = machine.matmul_gflops(size=1024)
    macs = model_lib.multiply_adds(model_lib.build_model("gn"))
    ceiling = peak * 1e9 / (2 * macs)
    for row in rows.values():
        row["fraction_of_ceiling"] = round(row["images_per_s_batch256"] / ceiling, 4)
    summary = {
        "runs": list(rows.values()),
        "ceiling": {"matmul_gflops_one_thread": round(peak, 2), "multiply_adds_per_image": macs,
                    "images_per_s": round(ceiling, 1)},
        "method": {"threads": 1, "keras_threads": keras_threads, "latency_calls": per_round * rounds,
                   "throughput_batch": THROUGHPUT_BATCH, "throughput_calls": batches_per_round * rounds,
                   "rounds": rounds,
                   "calibration": f"the first {CALIBRATION_IMAGES} training images",
                   "accuracy_on": f"the {len(images)} test images of data/mnist"},
        **machine.environment(),
    }
    summary["versions"]["ai_edge_litert"] = importlib.metadata.version("ai-edge-litert")
    print("int8 against float32, layer by layer (seed 1 of each model)", flush=True)
    first = {}
    for norm, _, run_dir in found:
        first.setdefault(norm, run_dir)
    summary["int8_layers"] = {norm: int8_layer_errors(rundir.load_trained_model(run_dir),
                                                      train_images[:CALIBRATION_IMAGES],
                                                      train_images[CALIBRATION_IMAGES:CALIBRATION_IMAGES + 500])
                              for norm, run_dir in first.items()}
    summary["study_seconds"] = round(time.perf_counter() - started, 1)
    os.makedirs(output_dir, exist_ok=True)
    rundir.write_json(rundir.summary_path(output_dir), summary)
    from . import plots

    rundir.save_figure(plots.plot_deploy(summary, model_lib.NORM_LABELS), os.path.join(output_dir, "deploy.png"))
    return summary


# ----------------------------------------------------------------------------- CLI
