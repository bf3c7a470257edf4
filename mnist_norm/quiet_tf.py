"""Imports TensorFlow without the C++ log lines it prints on start-up.

    from mnist_norm import quiet_tf; quiet_tf.start()   # before keras / tensorflow (the modules that load them do)

On a CPU machine `import tensorflow` writes about seven lines to stderr from C++ (absl's "All log
messages before absl::InitializeLog()", the oneDNN notice and "Could not find cuda drivers", twice;
then the CPU-feature notice and a red `E0000 ... failed call to cuInit`), and a newcomer reads the last
as a failure. TF_CPP_MIN_LOG_LEVEL=3 removes the later ones, but the first six are printed before absl's
logging starts and ignore it, so during the import stderr goes to a temporary file and everything in it
that is not such a C++ log line is written back (Python warnings and errors still show).

Nothing is hidden with `--debug` on the command line or when the user sets TF_CPP_MIN_LOG_LEVEL=0; a level
of 1-3 that the user set is read as asking for the same quiet start.
"""

import contextlib
import os
import re
import sys
import tempfile

# glog-style lines ("I0000 00:00:1796161655.540199    2057 port.cc:153] ..."), TensorFlow 2.19's
# ("2026-12-01 23:12:58.498714: I tensorflow/core/util/port.cc:153] ..."), absl's notice before them, and the
# second line of the CPU-feature notice.
_CPP_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]"  # TensorFlow <= 2.19's own format
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .*rebuild TensorFlow"
    r"|fully_quantize: \d+, inference_type: "  # the LiteRT converter's int8 pass (deploy.py)
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU)"  # the LiteRT interpreter's start
)


def is_cpp_log_line(line):
    """True for a line of TensorFlow's C++ start-up logging."""
    return bool(_CPP_LOG_LINE.match(line))


def start(argv=None):
    """Imports tensorflow without its C++ start-up lines, unless --debug is in `argv` (default sys.argv) or the
    user set TF_CPP_MIN_LOG_LEVEL=0 (everything).

    A level of 1, 2 or 3 that the user set (the usual advice to silence TensorFlow) is read as asking for
    quiet: TensorFlow starts at level 3, which it reads once while importing (level 2 still prints a CPU
    machine's red "failed call to cuInit" later), and the variable is then put back to the user's value for
    the processes this one starts. Returns True when lines were filtered.
    """
    if not wanted(argv) or "tensorflow" in sys.modules:
        return False
    users = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # the lines after absl starts: cuInit, CPU features
    try:
        with cpp_lines_filtered(True):
            import tensorflow  # noqa: F401
    finally:
        if users is not None:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = users
    return True


def wanted(argv=None):
    """False with --debug in `argv` (default sys.argv) or TF_CPP_MIN_LOG_LEVEL=0: then nothing is filtered."""
    argv = sys.argv if argv is None else argv
    return "--debug" not in argv and os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0"


@contextlib.contextmanager
def cpp_lines_filtered(enabled=None):
    """Within the block, stderr (file descriptor 2, which C++ writes to) goes to a temporary file; on leaving,
    everything in it that is not a C++ log line is written back (Python warnings and errors still show).
    `enabled` defaults to `wanted()`."""
    if not (wanted() if enabled is None else enabled):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_cpp_log_line(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
