"""Deploys the trained models with LiteRT and measures what each normalization costs at inference.

    python deploy.py export                     # every finished run in results/ -> model.tflite, model_int8.tflite
    python deploy.py export --runs outputs      # the runs a train.py --output-dir holds
    python deploy.py study                      # outputs/deploy/: summary.json and deploy.png (nothing else running)
    python deploy.py study --output-dir results/deploy   # the committed study, timed on this machine
"""

import os
import sys
import time

from mnist_norm import rundir
from mnist_norm import studies
from mnist_norm import variants


def parse_args(argv=None):
    parser = rundir.Parser(prog="deploy.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=rundir.Parser)
    export = commands.add_parser("export", help="write model.tflite and model_int8.tflite for finished runs")
    measure = commands.add_parser("study", help="accuracy, latency and throughput of every runtime: "
                                                "<output-dir>/summary.json and deploy.png")
    for command in (export, measure):
        command.add_argument("--runs", default="results", help="folder of finished runs (default: %(default)s)")
        command.add_argument("--seeds", type=int, nargs="+", help="only these seeds (default: all)")
        command.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's C++ log lines")
    export.add_argument("--norm", choices=variants.ALL_NORMS, nargs="+", default=list(variants.available()),
                        help="the variants to export (those whose runs are there)")
    measure.add_argument("--norm", choices=variants.ALL_NORMS, nargs="+", default=list(studies.DEPLOY_NORMS),
                         help="the variants to measure (default: the committed study's)")
    export.add_argument("--data-dir", help="IDX folder whose training images calibrate int8 (default: data/mnist)")
    export.add_argument("--force", action="store_true",
                        help="convert runs that have their LiteRT files already (a retrained run has none: train.py "
                             "starts a run afresh in an empty folder)")
    measure.add_argument("--output-dir", default=os.path.join("outputs", "deploy"),
                         help="where summary.json and deploy.png go (the committed study: results/deploy)")
    measure.add_argument("--latency-calls", type=int, default=1000,
                         help="single-image calls per model and runtime, in 10 interleaved rounds")
    args = parser.parse_args(argv)
    parser.require_folder("--runs", args.runs)
    parser.require_buildable(getattr(args, "norm", ()))
    parser.require_folder("--data-dir", getattr(args, "data_dir", None))
    if args.command == "study" and args.latency_calls < 3:
        parser.error(f"--latency-calls must be >= 3; received {args.latency_calls}")
    return args


def main(argv=None):
    args = parse_args(argv)
    from mnist_norm import data as data_lib
    from mnist_norm import deploy  # TensorFlow loads here, once the flags are read
    from mnist_norm import runtimes

    try:
        if args.command == "export":
            found = deploy.finished_runs(args.runs, args.norm, args.seeds)
            calibration = deploy.calibration_images(data_dir=args.data_dir, source="bundled")
            for index, (_, _, run_dir) in enumerate(found, 1):
                if not args.force and deploy.exported(run_dir):  # another converter would write other bytes
                    print(f"{index} of {len(found)}: {run_dir}: already exported (--force converts it again)")
                    continue
                started = time.perf_counter()
                paths = deploy.export_run(run_dir, calibration)
                sizes = ", ".join(f"{os.path.basename(p)} {os.path.getsize(p) / 1024:.0f} KiB" for p in paths)
                print(f"{index} of {len(found)}: {run_dir}: {sizes} ({time.perf_counter() - started:.1f} s)")
        else:
            summary = deploy.study(args.runs, args.output_dir, args.seeds, latency_calls=args.latency_calls,
                                   keras_threads=deploy.one_thread(), norms=args.norm)
            for row in summary["runs"]:
                print(f"{row['norm']} seed {row['seed']} {row['runtime']}: {100 * row['accuracy']:.2f} %, "
                      f"{row['latency_ms_batch1']:.3f} ms/image, {row['images_per_s_batch256']:,.0f} images/s")
            print(f"wrote {rundir.summary_path(args.output_dir)} and deploy.png")
    except (deploy.DeployError, runtimes.ModelError, data_lib.DataError, OSError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

