"""Reproduces the whole study: every committed study's runs, summaries, figures and evaluations, from their summaries.

    python reproduce.py --dry-run                     # the plan: each study, its runs, how many are finished
    python reproduce.py                               # run what is missing, then every summary and evaluation
    python reproduce.py --studies l1 batch-size       # some studies only
    python reproduce.py --output-dir outputs/again    # everything again, from scratch, in another folder
    python reproduce.py --workers 2                   # on a local Ray: 2 runs at once, 1 thread each
    python reproduce.py --address auto                # on the Ray cluster `ray start` made (see the README)
    python reproduce.py --check --workers 1 --threads made  # do committed runs still come from today's code?

The plan is read from the committed summaries (results/**/summary.json): a train.py folder's summary names its
variants' run records and seeds, a sweep's its settings. A run already finished in the output folder with the same
settings is kept; a killed command or worker loses at most the epoch in flight (rerun the same command). Runs go
one per Ray task, each in a fresh worker process; evaluations whose numbers are timings (the deployment study) run
after every run, alone. --check reruns the first 2 epochs of seed 1 of every point, under each run's own learning
rate schedule, in a temporary folder, and compares each history with the committed one (every column but the epoch
times); exit 1 when a run made on this processor at the same threads no longer gives the same numbers.
"""

import os
import sys

from mnist_norm import plan as plan_lib
from mnist_norm import reproduce
from mnist_norm import rundir


def parse_args(argv=None):
    parser = rundir.Parser(prog="reproduce.py", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    parser.add_argument("--studies", nargs="+", metavar="STUDY", help="only these studies (default: all; the names "
                                                                      "--dry-run prints)")
    parser.add_argument("--results", default=plan_lib.RESULTS,
                        help="the committed results whose summaries give the plan")
    parser.add_argument("--output-dir",
                        help="where the runs and summaries go (default: --results, where finished runs are kept), "
                             "or another folder to reproduce everything into from scratch")
    parser.add_argument("--workers", type=int, help="start a Ray on this machine with this many runs at once (no "
                                                    "dashboard, token authentication)")
    parser.add_argument("--address", help="join a running Ray cluster: HOST:PORT, or auto")
    parser.add_argument("--threads", help="TensorFlow threads per run (default: 1 on Ray, else TensorFlow's own: one "
                                          f"per core); with --check also '{reproduce.MADE}': each run on the threads "
                                          "it was made on (needs --workers or --address)")
    parser.add_argument("--check", action="store_true",
                        help=f"rerun the first {reproduce.CHECK_EPOCHS} epochs of seed 1 of every point and compare with the committed "
                             "histories; writes results/reproduce/ (with --output-dir, there)")
    parser.add_argument("--measure-spread", metavar="FILE.json",
                        help="time 8 runs one after the other and on --workers (default 2) Ray workers of one thread, "
                             "and one run at 1 and 2 threads, with nothing else running; write the times there")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1; received {args.workers}")
    if args.threads is not None:
        if args.threads == reproduce.MADE and not args.check:
            parser.error(f"--threads {reproduce.MADE} is for --check (the committed runs' own threads); give a number")
        if args.threads == reproduce.MADE and not (args.workers or args.address):
            parser.error(reproduce.MADE_NEEDS_RAY)
        if args.threads != reproduce.MADE:
            if not args.threads.isdigit() or int(args.threads) < 1:
                parser.error(f"--threads must be a whole number >= 1 or {reproduce.MADE}; received {args.threads!r}")
            args.threads = int(args.threads)
    if args.workers and args.address:
        parser.error("--workers starts a local Ray and --address joins one; give one")
    if not os.path.isdir(args.results):
        parser.error(f"--results {args.results!r}: no such folder (run reproduce.py in the project's folder)")
    args.output_dir = args.output_dir or args.results
    try:
        args.plan = plan_lib.whole_plan(args.results, args.output_dir)
        if args.studies:
            args.plan = args.plan.select(args.studies)
    except plan_lib.PlanError as error:
        parser.error(str(error))
    if (args.workers or args.address) and not args.dry_run:
        from mnist_norm import cluster

        try:
            cluster.require_ray()
        except cluster.ClusterError as error:
            print(f"reproduce.py: error: {error}", file=sys.stderr)
            sys.exit(1)
    return args


def print_plan(plan):
    rows = plan_lib.table(plan)
    width = max([len("study")] + [len(name) for name, *_ in rows])
    print(f"{'study':{width}}  {'runs':>5}  {'finished':>8}  {'hours when committed':>20}")
    for name, runs, finished, hours in rows:
        print(f"{name:{width}}  {runs:5d}  {finished:8d}  {hours:20.2f}")
    total = [sum(column) for column in list(zip(*rows))[1:]] if rows else [0, 0, 0.0]
    print(f"{'all':{width}}  {total[0]:5d}  {total[1]:8d}  {total[2]:20.2f}")
    for step in plan.steps:
        print(f"then {step.name}: {', '.join(step.norms)} seeds {', '.join(map(str, step.seeds))} from {step.models}"
              + (" (timed: alone, after every run)" if step.timed else ""))
    for folder, why in plan.left_out:
        print(f"not in the plan: {folder}: {why}")


def main(argv=None):
    args = parse_args(argv)
    if args.dry_run:
        print_plan(args.plan)
        return 0
    from mnist_norm import quiet_tf

    quiet_tf.start(argv)
    from mnist_norm import cluster
    from mnist_norm import data as data_lib
    from mnist_norm import report

    try:
        if args.measure_spread:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="reproduce-spread-") as scratch:
                measured = reproduce.measure_spread(scratch, args.workers or 2)
            rundir.write_json(args.measure_spread, measured)
            print(f"{measured['runs']} runs: {measured['serial_seconds']:.0f} s one after the other, "
                  f"{measured['ray_seconds']:.0f} s on {measured['workers']} Ray workers of one thread "
                  f"({measured['speedup']:.2f}x); one run: {measured['one_run_seconds']['1']:.0f} s on 1 thread, "
                  f"{measured['one_run_seconds']['2']:.0f} s on 2")
            return 0
        if args.check:
            rows = reproduce.check(args.plan, workers=args.workers, address=args.address, threads=args.threads)
            folder = os.path.join(args.output_dir, "reproduce")
            verdict = reproduce.write_check(rows, folder, [study.name for study in args.plan.studies])
            print(verdict["sentence"])
            return 1 if verdict["not_reproduced"] else 0
        reproduce.run(args.plan, args.workers, args.address, args.threads)
        if os.path.normpath(args.output_dir) == os.path.normpath(plan_lib.RESULTS):
            missing = report.render_documents()
            if missing:
                print(f"note: no results file to render these blocks from: {'; '.join(missing)}")
    except cluster.ClusterError as error:
        print(f"reproduce.py: error: {error}", file=sys.stderr)
        return 2
    except (data_lib.DataError, OSError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished runs and epochs are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
