"""Training and inference speed of each variant, as a fraction of this machine's limit (mnist_norm.benchmark).

    python benchmark.py --output results/benchmark.json
    python benchmark.py --torch-python ../torchvenv/bin/python
    python benchmark.py --candidate pool1 "--architecture 8p,12,16,16,16 --zoom 0.1"
    python benchmark.py --readme-times results/readme_times.json   # the main job, the tests and the edit loop, timed
"""

import sys

from mnist_norm import data as data_lib
from mnist_norm import rundir
from mnist_norm import variants


def main(argv=None):
    parser = rundir.Parser(prog="benchmark.py", description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=data_lib.SOURCES, default="bundled", help="as in train.py")
    parser.add_argument("--data-dir", help="MNIST IDX folder; replaces --data")
    parser.add_argument("--norm", default="all", choices=(*variants.NORMS, "all"), help="the variants to time")
    parser.add_argument("--images", type=int, default=15360, help="training images timed per pass")
    parser.add_argument("--batch-size", type=int, default=128, help="images per training step")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per variant")
    parser.add_argument("--torch-python", help="Python interpreter with PyTorch for the side-by-side reference")
    parser.add_argument("--profile", action="store_true", help="also time every layer alone (forward + backward)")
    parser.add_argument("--candidate", nargs=2, action="append", default=[], metavar=("NAME", "FLAGS"),
                        help="also time this recipe, given as train.py flags (repeatable)")
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--readme-times", metavar="FILE.json",
                        help="instead: time the README's main job, its tests and the edit loop, one after the other "
                             "(as long as the three take; the last timing: results/readme_times.json), and write "
                             "their times here")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    parser.require_folder("--data-dir", args.data_dir)
    for name in ("images", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; received {getattr(args, name)}")
    norms = variants.NORMS if args.norm == "all" else (args.norm,)
    from mnist_norm import benchmark  # TensorFlow loads here, once the flags are read
    from mnist_norm.report import speed

    if args.readme_times:
        try:
            timed = benchmark.time_readme_commands()
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        rundir.write_json(args.readme_times, timed)
        print(speed.readme_times(timed))
        return 0

    # Parsed up front: bad flags stop here, before any timing.
    candidates = {"default": ("", benchmark.candidate_args("", args.batch_size))}
    for name, flags in args.candidate:
        if name in candidates:
            parser.error(f"--candidate name {name!r} is used twice; give each recipe its own name")
        candidates[name] = (flags, benchmark.candidate_args(flags, args.batch_size))
    try:
        report = benchmark.measure(args, candidates, norms)
    except data_lib.DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(speed.benchmark(report))
    if args.output:
        rundir.write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
