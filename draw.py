"""A page to draw a digit or a number on, answered by every model as you draw: python draw.py, then open it.

    python draw.py                              # http://127.0.0.1:8000/, the committed models (results/)
    python draw.py --port 8080 --models outputs
    python draw.py --runtime keras              # the Keras models (TensorFlow) instead of the LiteRT files
"""

import sys

from mnist_norm import page
from mnist_norm import rundir
from mnist_norm import runtimes


def parse_args(argv=None):
    parser = rundir.Parser(prog="draw.py", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="0: any free port (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--models", default="results", help="folder of models, as for predict.py")
    parser.add_argument("--runtime", choices=(runtimes.AUTO, *runtimes.NAMES, *runtimes.ALIASES), default=runtimes.AUTO,
                        help="as for predict.py: auto takes the LiteRT float32 files where every model has one")
    parser.add_argument("--judge", default="results/judge",
                        help="the judge's folder, as for predict.py, or none (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: expected 0 to 65535")
    parser.require_folder("--models", args.models)
    if args.judge != "none":
        parser.require_folder("--judge", args.judge)
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        page.serve(args.port, args.host, args.models, args.runtime, judge_dir=args.judge)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port} ({error.strerror or error})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

