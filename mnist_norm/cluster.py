"""A plan's runs on Ray: one task per run, each in a fresh worker process, on this machine or a cluster.

Ray (`pip install .[cluster]`) is optional: without it `require_ray` says in one line how to get it, and
reproduce.py trains serially. Each task trains one run with `run_one`, the same library call as the serial path,
and writes through the run folder's atomic writes; the folder must be one that every node sees at the same path
(a shared filesystem: NFS, or one machine). A task whose worker or node dies is retried by Ray (MAX_RETRIES) and
resumes its run from the last epoch its backup holds. A worker runs one task and exits (TensorFlow keeps state
in a process: graphs, thread pools, a global policy), so every run starts as train.py starts it.
"""

import os
import socket
import sys
import time

MAX_RETRIES = 3  # a killed worker or node: Ray runs the task again, and the run resumes from its backup
INSTALL = "pip install '.[cluster]'"


class ClusterError(RuntimeError):
    """Ray missing, or no cluster at the address given: one line saying which and what to do."""


def require_ray():
    """The ray module, or ClusterError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--workers and --address need Ray, an optional extra: {INSTALL}") from None
    return ray


def set_threads(threads):
    """Sets the threads one TensorFlow op computes on in this process, possible only before TensorFlow has run an
    op (a fresh worker's case); returns False when it is too late. None: TensorFlow's default, one per core."""
    if not threads:
        return True
    from . import quiet_tf

    quiet_tf.start()
    import tensorflow as tf

    try:
        # The pool that runs ops side by side keeps its default: at one thread the input pipeline waits on the
        # training step (a tiny run took 3x as long).
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        return False
    return True


def run_one(config, run_dir, threads=None, export=False, diverged_is_result=False, stop_after=None):
    """Trains one run in this process (a Ray worker, or the serial path) on `threads` threads (None: TensorFlow's
    default). Returns where and how it ran: {"run_dir", "trained", "host", "pid", "seconds", "threads"}.
    `diverged_is_result`: a NaN loss is recorded as the run's result (a sweep's point), else it raises;
    `stop_after`: only the run's first epochs (training.train_run)."""
    set_threads(threads)
    from . import machine
    from . import sweep
    from . import training

    started = time.perf_counter()
    strategy = training.configure(config)
    splits = training.load_splits(config)
    if diverged_is_result:
        _, trained = sweep.train_point(config, splits, run_dir, strategy, stop_after)
    else:
        _, trained = training.train_run(config, splits, run_dir, strategy, export=export, stop_after=stop_after)
    return {"run_dir": run_dir, "trained": trained, "host": socket.gethostname(), "pid": os.getpid(),
            "seconds": round(time.perf_counter() - started, 1), "threads": machine.threads()}


def _task(project, config, run_dir, threads, export, diverged_is_result, stop_after):
    # In a Ray worker: the project's folder (the same path on every node) is where relative run folders lie.
    os.chdir(project)
    if project not in sys.path:
        sys.path.insert(0, project)
    from mnist_norm import cluster

    return cluster.run_one(config, run_dir, threads, export, diverged_is_result, stop_after)


def reachable(address, timeout=10):
    """ClusterError unless something listens at `address` (HOST:PORT): Ray itself retries an unreachable cluster
    for minutes before it gives up."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--address {address}: expected HOST:PORT (the head's `ray start --head` port) or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ClusterError(f"--address {address}: no Ray cluster answers there ({error.strerror or error})") from None


def connect(workers=None, address=None, threads=1):
    """Starts a local Ray of `workers` x `threads` CPUs without a dashboard (Ray 2.60 binds its ports to the machine's
    network address even when asked for 127.0.0.1), or joins the cluster at `address` ("auto": the one `ray start`
    made here). Returns the ray module."""
    ray = require_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    if address and address != "auto":
        reachable(address)
    try:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(num_cpus=workers * threads, num_gpus=0, include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = f"--address {address}" if address else "a local Ray"
        raise ClusterError(f"{where}: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    return ray


def train(runs, threads=1, gpus_per_run=0, on_done=print, stop_after=None):
    """Trains `runs` (plan.Run, with an `export` and a `diverged_is_result` flag each) as Ray tasks of `threads`
    CPUs (and `gpus_per_run` GPUs) each, as many at once as the cluster holds; `threads` may instead be a list, one
    number per run. Calls `on_done(report)` as each finishes; returns the reports in the runs' order. A task that
    fails for good raises its error."""
    ray = require_ray()
    project = os.getcwd()
    remote = ray.remote(max_calls=1)(_task)  # max_calls=1: a fresh worker process for every run
    per_run = list(threads) if isinstance(threads, (list, tuple)) else [threads] * len(runs)
    largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]), default=0)
    if per_run and max(per_run) > largest:
        # Ray would wait for such a node for ever
        raise ClusterError(f"a run needs {max(per_run)} CPUs (its threads) and the largest node has {largest:g}")
    pending = {}
    for index, (run, its_threads) in enumerate(zip(runs, per_run)):
        ref = remote.options(num_cpus=its_threads, num_gpus=gpus_per_run, max_retries=MAX_RETRIES,
                             retry_exceptions=False).remote(project, run.config, run.run_dir, its_threads, run.export,
                                                            run.diverged_is_result, stop_after)
        pending[ref] = index
    reports = [None] * len(runs)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(done[0])
        reports[index] = ray.get(done[0])
        on_done(reports[index])
    return reports
