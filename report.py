"""Renders the result tables of README.md and docs/*.md from the files real runs wrote under results/.

    python report.py --update               # rewrite the marked blocks of README.md and docs/*.md in place
    python report.py                        # print them
"""

import sys

from mnist_norm import report
from mnist_norm import rundir


def main(argv=None):
    parser = rundir.Parser(prog="report.py", description=__doc__.split("\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite the marked blocks of README.md and docs/*.md")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    if args.update:
        missing = report.render_documents()
        if missing:
            print(f"error: no results file to render these blocks from: {'; '.join(missing)}", file=sys.stderr)
            return 1
    else:
        for name, body in report.blocks().items():
            print(f"<!-- report:{name} -->\n{body}\n<!-- /report:{name} -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

