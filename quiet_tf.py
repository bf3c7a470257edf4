"""Imports TensorFlow without the C++ log lines it prints on start-up.

    import quiet_tf; quiet_tf.start()   # first thing in a command, before keras / tensorflow

On a CPU machine `import tensorflow` writes about seven lines to stderr from C++ (absl's "All log
messages before absl::InitializeLog()", the oneDNN notice and "Could not find cuda drivers", twice;
then the CPU-feature notice and a red `E0000 ... failed call to cuInit`), and a newcomer reads the last
as a failure. TF_CPP_MIN_LOG_LEVEL=3 removes the later ones, but the first six are printed before absl's
logging starts and ignore it, so during the import stderr goes to a temporary file and everything in it
that is not such a C++ log line is written back (Python warnings and errors still show).

Nothing is hidden with `--debug` on the command line or when the user sets TF_CPP_MIN_LOG_LEVEL.
"""

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
    r"|To enable the following instructions: .*rebuild TensorFlow)"
)


def is_cpp_log_line(line):
    """True for a line of TensorFlow's C++ start-up logging."""
    return bool(_CPP_LOG_LINE.match(line))


def start(argv=None):
    """Imports tensorflow, quietly unless --debug is in `argv` (default sys.argv) or the user set the level.

    Returns True when the C++ lines were filtered.
    """
    argv = sys.argv if argv is None else argv
    if "--debug" in argv or "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # the lines after absl starts: cuInit, CPU features
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_cpp_log_line(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return True
