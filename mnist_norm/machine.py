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


def environment(with_threads=False):
    """The versions and machine a summary's numbers were made with; `with_threads`: and the threads TensorFlow ran
    on, which a training run's history depends on (the same seed ends elsewhere on 1 and 2 threads)."""
    import keras
    import tensorflow as tf

    return {
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        "machine": {
            "platform": platform.platform(),
            "processor": cpu_name(),
            "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            **({"threads": threads()} if with_threads else {}),
        },
    }


def threads():
    """The threads TensorFlow computes one op on: as set in this process, else one per core it may run on."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or len(os.sched_getaffinity(0))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


UNRECORDED = "unrecorded"  # a summary's key: the record of its runs made before result.json recorded their own


def unrecorded(summary):
    """The machine and versions a summary gives the runs made before result.json recorded their own: its
    UNRECORDED record once its runs come from several machines, else its one record; None without a summary."""
    if not summary:
        return None
    return summary.get(UNRECORDED) or {key: summary[key] for key in ("versions", "machine") if key in summary} or None


def of_runs(environments, previous=None):
    """The versions and machine of a summary: those the runs it covers were made with, not this machine's.

    `environments`: each run's `environment()` as its result.json recorded it, None for a run made before
    result.json recorded it; such runs take `previous` (the summary's earlier record, if any). Runs from more
    than one machine or version set give {"environments": [...], "note": ...} instead of one.
    """
    found = []
    for environment in environments:
        environment = environment or previous or {"machine": "unknown: made before result.json recorded it"}
        if environment not in found:
            found.append(environment)
    if len(found) <= 1:
        return found[0] if found else dict(previous or {})
    record = {"environments": found, "note": f"the runs were made on {len(found)} different machines or version sets"}
    if previous and None in environments:  # kept for the next rewrite: those runs cannot say it themselves
        record[UNRECORDED] = previous
    return record
