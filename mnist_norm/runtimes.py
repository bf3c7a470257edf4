"""The ways to run a trained model, each with one name that every flag, summary, table and page uses.

    keras        the run's model.keras under one tf.function with a softmax on top (what its SavedModel serves)
    litert-f32   model.tflite (deploy.py export): float32, run by the LiteRT interpreter, no TensorFlow
    litert-int8  model_int8.tflite: full-integer, uint8 pixels in, probabilities out in steps of 1/256

`load(run_dir, name)` returns a function raw 0-255 pixels (N, 28, 28, 1) -> (N, 10) float32 probabilities;
`load_models(results_dir, name)` one per variant (seed 1). Every one of them may be called from several threads
at once (the drawing page's server does, a thread per request): a LiteRT interpreter holds its input and output in
itself, so each call takes an interpreter of its own from a pool of idle ones (a new one only when all are busy);
TensorFlow's functions are safe to share.

Only `keras` imports TensorFlow: predict.py and draw.py answer with the LiteRT files without it.
"""

import collections
import os
import queue
import threading

import numpy as np

from . import quiet_tf
from . import rundir
from . import variants

NAMES = ("keras", "litert-f32", "litert-int8")
LITERT = ("litert-f32", "litert-int8")  # the ones deploy.py export writes a file for
LABELS = {"keras": "Keras (tf.function)", "litert-f32": "LiteRT float32", "litert-int8": "LiteRT int8"}
# Earlier names, still accepted by predict.py's and draw.py's --runtime.
ALIASES = {"savedmodel": "keras", "litert": "litert-f32"}
AUTO = "auto"  # litert-f32 where every model found has its file (no TensorFlow needed), else keras
FILE_KINDS = {"keras": "model", "litert-f32": "litert-f32", "litert-int8": "litert-int8"}  # rundir.FILES keys
# Creating an interpreter moves file descriptor 2 aside for its C++ lines: one thread at a time.
_CREATING = threading.Lock()


class ModelError(ValueError):
    """Models that cannot be found or loaded (the message names the file and why)."""


def canonical(name):
    """The runtime's name, an earlier alias resolved; ModelError for anything else."""
    name = ALIASES.get(name, name)
    if name not in (*NAMES, AUTO):
        raise ModelError(f"runtime {name!r}: expected one of {', '.join((AUTO, *NAMES))}")
    return name


def path(run_dir, name):
    """The file a runtime reads in a run folder."""
    return rundir.file(run_dir, FILE_KINDS[canonical(name)])


class LiteRTModel:
    """A .tflite file as a function: raw 0-255 pixels (N, 28, 28, 1) -> (N, 10) float probabilities.

    Runs with the LiteRT interpreter (`ai-edge-litert`, no TensorFlow). Quantized inputs and outputs are converted
    with the file's own scale and zero point. Concurrent calls each use an interpreter of their own, taken from a
    pool of idle ones; an interpreter is resized only when the batch size changes, as a server keeping one would.
    """

    def __init__(self, path, threads=1):
        from ai_edge_litert import schema_py_generated as schema

        if not os.path.isfile(path):
            raise ModelError(f"{path}: no such file")
        with open(path, "rb") as handle:
            self.content = handle.read()
        try:
            # Read through once in Python first: older LiteRT runtimes crash on a truncated file, not raise.
            self.graph = schema.ModelT.InitFromPackedBuf(bytearray(self.content), 0)
        except Exception as error:  # struct.error, IndexError, ValueError: all mean a bad file
            raise self._damaged(path, error) from error
        self.operators = schema.BuiltinOperator
        self.path, self.threads = path, threads
        self._idle = queue.SimpleQueue()  # [interpreter, its batch size] not in use
        first = self._new()  # now: a file LiteRT refuses fails here, not at a call
        self.input, = first[0].get_input_details()
        self.output, = first[0].get_output_details()
        self._idle.put(first)

    @staticmethod
    def _damaged(path, error):
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        return ModelError(f"{path}: not a LiteRT model, or a damaged one ({message})")

    def _new(self):
        from ai_edge_litert.interpreter import Interpreter

        try:
            with _CREATING, quiet_tf.cpp_lines_filtered():
                interpreter = Interpreter(model_content=self.content, num_threads=self.threads)
                interpreter.allocate_tensors()
        except Exception as error:  # RuntimeError, ValueError
            raise self._damaged(self.path, error) from error
        return [interpreter, int(interpreter.get_input_details()[0]["shape"][0])]

    def ops(self):
        """{op name: count} of the converted graph as the file holds it (before any delegate takes ops over)."""
        names = {code: name for name, code in vars(self.operators).items() if not name.startswith("_")}
        codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in self.graph.operatorCodes]
        return dict(collections.Counter(names[codes[op.opcodeIndex]] for op in self.graph.subgraphs[0].operators))

    def __call__(self, pixels):
        try:
            entry = self._idle.get_nowait()
        except queue.Empty:  # every interpreter is busy in another thread
            entry = self._new()
        try:
            return self._run(entry, np.asarray(pixels, dtype="float32"))
        finally:
            self._idle.put(entry)

    def _run(self, entry, pixels):
        interpreter = entry[0]
        if len(pixels) != entry[1]:
            interpreter.resize_tensor_input(self.input["index"], [len(pixels), 28, 28, 1])
            interpreter.allocate_tensors()
            entry[1] = len(pixels)
        scale, zero = self.input["quantization"]
        if self.input["dtype"] != np.float32:
            info = np.iinfo(self.input["dtype"])
            pixels = np.clip(np.round(pixels / scale + zero), info.min, info.max)
        interpreter.set_tensor(self.input["index"], pixels.astype(self.input["dtype"]))
        interpreter.invoke()
        out = interpreter.get_tensor(self.output["index"])
        scale, zero = self.output["quantization"]
        return (out.astype("float32") - zero) * scale if self.output["dtype"] != np.float32 else out.copy()


class KerasModel:
    """The trained Keras model under one tf.function (what its SavedModel serves): pixels -> probabilities."""

    def __init__(self, run_dir):
        quiet_tf.start()
        import tensorflow as tf

        from . import network as model_lib

        if not os.path.isfile(rundir.file(run_dir, "model")):
            raise ModelError(f"{rundir.file(run_dir, 'model')}: no such file")
        self.network = rundir.load_trained_model(run_dir)
        probabilities = model_lib.probability_model(self.network)
        self._tf = tf
        self.serve = tf.function(lambda x: probabilities(x, training=False),
                                 input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])

    def ops(self):
        """{layer class: count} (a Keras model has layers, not LiteRT ops)."""
        return dict(collections.Counter(type(layer).__name__ for layer in self.network.layers[1:]))

    def __call__(self, pixels):
        return self.serve(self._tf.constant(np.asarray(pixels, dtype="float32"))).numpy()


def load(run_dir, name, threads=1):
    """One run's model under runtime `name`."""
    name = canonical(name)
    loaded = KerasModel(run_dir) if name == "keras" else LiteRTModel(path(run_dir, name), threads)
    loaded.runtime = name
    return loaded


def find_models(results_dir, name):
    """{norm: run folder} of every reading variant's (variants.READERS) seed-1 run (or one-seed run) under
    `results_dir` that has the file runtime `name` reads."""
    kind = FILE_KINDS[canonical(name)]
    found = {norm: rundir.find_run(results_dir, norm, 1, kind) for norm in variants.READERS}
    return {norm: folder for norm, folder in found.items() if folder}


def load_models(results_dir, name=AUTO):
    """{norm: model} of every variant found under `results_dir` (seed 1, or a run of one seed), with runtime
    `name`, or AUTO: litert-f32 where every model found has its model.tflite, else keras."""
    if not os.path.isdir(results_dir):
        raise ModelError(f"--models {results_dir!r}: no such folder")
    name = canonical(name)
    if name == AUTO:
        keras_runs, litert_runs = find_models(results_dir, "keras"), find_models(results_dir, "litert-f32")
        name = "litert-f32" if litert_runs and set(litert_runs) >= set(keras_runs) else "keras"
    found = find_models(results_dir, name)
    if not found:
        file_name = rundir.FILES[FILE_KINDS[name]]
        hint = ("train.py writes them" if name == "keras"
                else f"`python deploy.py export --runs {results_dir}` writes them")
        raise ModelError(f"--models {results_dir!r}: no {file_name} found (expected {rundir.layout(file_name, seed=1)} "
                         f"for {', '.join(variants.READERS)}; {hint})")
    return {norm: load(folder, name) for norm, folder in found.items()}
