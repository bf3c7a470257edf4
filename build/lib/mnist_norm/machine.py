"""The machine a number was measured on: its versions and processor, and one core's matrix-multiply peak.

benchmark.py and deploy.py time against `matmul_gflops`; every summary records `environment()`.
"""

import os
import platform
import statistics
import time


def median_rate(run, count, repeats):
    run()  # warm-up: tracing, caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return count / statistics.median(times)


def matmul_gflops(size=2048, repeats=5):
    """Float32 GFLOP/s of a size x size matmul under tf.function, on the threads TensorFlow has."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return median_rate(lambda: matmul().numpy(), 2 * size**3, repeats) / 1e9


def environment():
    """The versions and machine a summary's numbers were made with."""
    import keras
    import tensorflow as tf

    return {
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        "machine": {
            "platform": platform.platform(),
            "processor": cpu_name(),
            "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        },
    }


def cpu_name():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
