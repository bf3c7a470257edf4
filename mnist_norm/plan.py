"""The whole study as data, without TensorFlow: every committed study's runs and the steps that follow them, made from
the committed summaries alone (`whole_plan`), so there is no second list of runs to drift. reproduce.py prints,
runs and checks it.

A study is a folder with a summary.json that names its runs:
- a train.py folder (the 20-epoch study in results/, the notebook's, the validation rounds, ...): its summary's
  "variants" hold each variant's run record and seeds;
- a sweep (batch size, learning rate, L1, the group axis): its summary's "settings" give the sweep's plan
  (`studies.plan_from_settings`).
What follows the runs, in order: each study's summary and figures (its command rerun: it trains nothing then), the
input-shift evaluations and the deployment studies (their summaries name their models), each written where it was.
`NOT_PLANNED` says what under results/ is not remade by the plan, and why.
"""

import dataclasses
import os
import typing

from . import config as config_lib
from . import data as data_lib
from . import rundir
from . import studies
from . import variants

RESULTS = "results"
MAIN_STUDY = "20-epoch"  # the name of the study whose folder is results/ itself
ABOUT_MAIN = "every variant at the study's recipe, 3 seeds x 20 epochs (train.py --seeds 1 2 3 --output-dir results)"
# What results/ holds that the plan does not remake, and why (the README's section on reproducing says the same).
NOT_PLANNED = {
    "benchmark.json": "training speed: timed by benchmark.py alone on its machine, not a result of the runs",
    "benchmark-run1.json": "the first speed measurement, kept beside benchmark.json",
    "readme_times.json": "how long the README's commands take (benchmark.py --readme-times), alone on its machine",
    "refusals": "the reader's refusals (photos.py): no training, the five models of the 20-epoch study",
    "predict": "predict.py's answer for the README's photo: no training",
    "judge": "the reader's judge (judge.py): a network of its own, trained in about 15 minutes, none of the study's",
    "draw": "the drawing page's screenshots (draw.py): no training",
    "tensorboard": "the 20-epoch study's TensorBoard logs, written by its runs",
}


def study_name(folder, root=RESULTS):
    """The plan's name of the train.py study committed in `folder` (a path as summaries record them, relative to the
    project): MAIN_STUDY for results/ itself, else its path below results/."""
    relative = os.path.relpath(os.path.normpath(folder), os.path.normpath(root))
    return MAIN_STUDY if relative == "." else relative


class PlanError(ValueError):
    """A committed summary that does not give a plan (a run folder it names is missing, or a record that no
    configuration makes); the message names the file."""


class Unplannable(PlanError):
    """A committed study made by code that recorded less than today's record holds: the plan lists it, with why,
    among the studies it cannot remake."""


def config_from_record(record, output_dir):
    """The TrainConfig whose run record (config.json) is `record`; PlanError when none is."""
    missing = [key for key in ("architecture",) if key not in record]
    if missing:
        raise Unplannable(f"made by earlier code, whose run record does not name its {', '.join(missing)}")
    data = record["data"]
    sources = {data_lib.source_name(source): source for source in data_lib.SOURCES}
    augment = record["augment"]
    settings = {
        "norm": record["norm"], "seed": record["seed"], "epochs": record["epochs"],
        "batch_size": record["batch_size"], "optimizer": record["optimizer"], "lr": record["lr"],
        "warmup_fraction": record["warmup_fraction"], "architecture": record["architecture"],
        "dropout": record["dropout"], "train_limit": record["train_limit"], "test_limit": record["test_limit"],
        "validation_size": record["validation_size"], "mixed_precision": record["mixed_precision"],
        "strategy": record["strategy"], "deterministic": record["deterministic"], "ema": record.get("ema", 0.0),
        "group_size": record.get("group_size"), "data": sources.get(data, "bundled"),
        "data_dir": None if data in sources else data, "augment": bool(augment), "output_dir": output_dir,
        "verbose": 2,
    }
    if augment:
        settings.update(rotation=augment["rotation_degrees"], shift=augment["shift_pixels"], zoom=augment["zoom"],
                        shear=augment["shear"])
    if record.get("l1") is not None:
        settings["l1"] = record["l1"]
    if record.get("groups") is not None:
        settings["groups"] = record["groups"]
    config = config_lib.TrainConfig(**settings)
    if config.record(data) != record:
        raise PlanError(f"no configuration makes the record {record} (it makes {config.record(data)})")
    return config


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of the plan: its configuration, its folder, and the committed run it remakes."""

    study: str
    config: config_lib.TrainConfig
    run_dir: str
    committed_dir: str
    committed_seconds: typing.Optional[float]  # its training time when committed (result.json), None if unknown
    export: bool = False  # a SavedModel beside model.keras, as train.py writes (a sweep's point has none)
    diverged_is_result: bool = False  # a sweep's point: a NaN loss is its result, not an error

    @property
    def source(self):
        return data_lib.source_name(self.config.data, self.config.data_dir)

    def finished(self):
        return config_lib.finished(self.config, self.run_dir, self.source)

    def describe(self):
        return f"{self.config.norm} seed {self.config.seed} -> {self.run_dir}"


@dataclasses.dataclass
class Study:
    """A study: its runs (a run of another study it reads, such as the group axis's plain LN, GN and IN, is that
    study's) and how its summary is remade."""

    name: str
    kind: str  # "train" or "sweep"
    folder: str  # the committed folder
    output_dir: str  # where the plan writes it
    about: str
    runs: list
    configs: list = dataclasses.field(default_factory=list)  # train: train.py's configurations, in its order
    sweep: typing.Optional[studies.SweepPlan] = None

    def committed_hours(self):
        return sum(run.committed_seconds or 0.0 for run in self.runs) / 3600


@dataclasses.dataclass(frozen=True)
class Step:
    """An evaluation after the runs: an input-shift study or a deployment study, remade where it was."""

    kind: str  # "shift" or "deploy"
    folder: str
    output_dir: str
    models: str  # the folder of the runs it reads
    norms: tuple
    seeds: tuple
    timed: bool  # its numbers are timings: run alone on its machine, after every run

    @property
    def name(self):
        return f"{self.kind}: {os.path.relpath(self.folder, RESULTS)}"


@dataclasses.dataclass
class Plan:
    studies: list
    steps: list
    root: str  # the committed results' folder
    output_dir: str  # where the plan writes (root, or another folder to reproduce everything into)
    left_out: list = dataclasses.field(default_factory=list)  # [(committed folder, why the plan cannot remake it)]

    def runs(self):
        return [run for study in self.studies for run in study.runs]

    def select(self, names):
        """The plan of the studies `names` only (and the steps that read their runs); PlanError on an unknown name."""
        known = [study.name for study in self.studies]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise PlanError(f"--studies {unknown[0]!r}: expected one of {', '.join(known)}")
        chosen = [study for study in self.studies if study.name in names]
        folders = {study.output_dir for study in chosen}
        return Plan(chosen, [step for step in self.steps if step.models in folders], self.root, self.output_dir,
                    self.left_out)


def _rebased(path, root, output_dir):
    """`path` (a folder under `root`) moved under `output_dir`."""
    relative = os.path.relpath(path, root)
    return os.path.normpath(os.path.join(output_dir, relative)) if relative != "." else output_dir


def _seconds(run_dir):
    path = rundir.file(run_dir, "result")
    return rundir.read_json(path).get("train_seconds") if os.path.exists(path) else None


def _train_study(name, folder, summary, root, output_dir, unbuildable):
    out_dir = _rebased(folder, root, output_dir)
    configs, runs = [], []
    for norm, entry in summary["variants"].items():
        for seed in (run["seed"] for run in entry["runs"]):
            committed = rundir.find_run(folder, norm, seed, "config")
            if committed is None:
                raise PlanError(f"{rundir.summary_path(folder)} names {norm} seed {seed}, whose run folder "
                                f"({rundir.layout(rundir.FILES['config'], seed)}) is not there")
            record = {**entry["config"], "seed": seed}
            try:
                config = config_from_record(record, out_dir)
            except Unplannable:
                raise
            except PlanError as error:
                raise PlanError(f"{rundir.summary_path(folder)}, {norm} seed {seed}: {error}") from None
            run = Run(name, config, _rebased(committed, root, output_dir), committed, _seconds(committed),
                      export=True)
            missing = variants.missing_keras(norm)
            if missing and not run.finished():  # a finished run is read, not built: kept
                unbuildable.append((run.run_dir, f"--norm {norm}: {missing}"))
                continue
            configs.append(config)
            runs.append(run)
    # train.py lays its runs out by the number of seeds: the plan's folders must be the ones it writes.
    for (_, run_dir), run in zip(config_lib.run_dirs(configs), runs):
        if os.path.normpath(run_dir) != run.run_dir:
            raise PlanError(f"{run.committed_dir}: train.py would write this run in {run_dir}")
    about = ABOUT_MAIN if name == MAIN_STUDY else (
        f"train.py: {', '.join(summary['variants'])}, seeds "
        f"{', '.join(str(r['seed']) for r in next(iter(summary['variants'].values()))['runs'])}")
    return Study(name, "train", folder, out_dir, about, runs, configs=configs)


def _sweep_study(folder, summary, root, output_dir, planned):
    settings = summary["settings"]
    out_dir = _rebased(folder, root, output_dir)
    try:
        plan = studies.plan_from_settings(settings, output_dir=out_dir, reuse_dir=output_dir, reuse_planned=planned)
    except config_lib.ConfigError as error:
        raise PlanError(f"{rundir.summary_path(folder)}: {error}") from None
    runs = []
    for point in plan.points:
        if os.path.commonpath([os.path.abspath(point.run_dir), os.path.abspath(out_dir)]) != os.path.abspath(out_dir):
            continue  # a run of another study, reused (the group axis's plain LN, GN and IN)
        committed = _rebased(point.run_dir, out_dir, folder)
        runs.append(Run(settings["study"], point.config, point.run_dir, committed, _seconds(committed),
                        diverged_is_result=True))
    about = studies.STUDIES[settings["study"]].about if settings["study"] in studies.STUDIES else "a sweep"
    return Study(settings["study"], "sweep", folder, out_dir, about, runs, sweep=plan)


def _step(folder, summary, root, output_dir):
    if "shifts" in summary and "models" in summary:
        kind, models, timed = "shift", summary["models"], False
    else:
        kind, models, timed = "deploy", summary.get("runs_dir", root), True
    norms = tuple(dict.fromkeys(row["norm"] for row in summary["runs"]))
    seeds = tuple(sorted({row["seed"] for row in summary["runs"]}))
    inside = os.path.commonpath([os.path.abspath(models), os.path.abspath(root)]) == os.path.abspath(root)
    return Step(kind, folder, _rebased(folder, root, output_dir),
                _rebased(models, root, output_dir) if inside else models, norms, seeds, timed)


def _summaries(root):
    """Every folder under `root` holding a summary.json, results/ first, then by path."""
    found = []
    for folder, names, files in os.walk(root):
        names[:] = sorted(name for name in names if name not in NOT_PLANNED and not name.startswith("."))
        if rundir.SUMMARY in files:
            found.append(os.path.normpath(folder))
    return found


def whole_plan(root=RESULTS, output_dir=None):
    """The plan of every study committed under `root`, writing into `output_dir` (default: `root` itself, where
    finished runs are found finished). Raises PlanError on a summary that does not give one."""
    output_dir = os.path.normpath(output_dir or root)
    root = os.path.normpath(root)
    found, steps, sweeps, left_out = [], [], [], []
    for folder in _summaries(root):
        summary = rundir.read_summary(folder)
        relative = os.path.relpath(folder, root)
        if "variants" in summary:
            try:
                found.append(_train_study(MAIN_STUDY if relative == "." else relative, folder, summary, root,
                                          output_dir, left_out))
            except Unplannable as error:
                left_out.append((folder, str(error)))
        elif "study" in summary.get("settings", {}):
            sweeps.append((folder, summary))
        elif "runs" in summary and ("shifts" in summary or "method" in summary):
            steps.append(_step(folder, summary, root, output_dir))
        else:
            raise PlanError(f"{rundir.summary_path(folder)}: neither a study nor an evaluation of one; name it in "
                            "plan.NOT_PLANNED with the reason")
    # A sweep reads the train.py studies' runs it reuses (the group axis): planned first, so they are found.
    planned = {run.run_dir: run.config.record(run.source) for study in found for run in study.runs}
    for folder, summary in sweeps:
        study = _sweep_study(folder, summary, root, output_dir, planned)
        left_out += [(study.output_dir, f"its {norm} runs: --norm {norm}: {why}")
                     for norm, why in study.sweep.left_out.items()]
        found.append(study)
    steps.sort(key=lambda step: (step.timed, step.folder))
    return Plan(found, steps, root, output_dir, left_out)


def table(plan):
    """The plan as rows: (study, runs, finished, hours when committed)."""
    rows = []
    for study in plan.studies:
        done = sum(run.finished() for run in study.runs)
        rows.append((study.name, len(study.runs), done, study.committed_hours()))
    return rows
