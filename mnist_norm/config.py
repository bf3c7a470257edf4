"""A training run's settings, without TensorFlow: `TrainConfig` (validated, with the record a run folder keeps),
train.py's flags (`flag_parser`, `configs`) and whether a folder already holds a run of other settings
(`conflict`). Commands parse and check their flags with it before TensorFlow loads, so --help and a bad value
answer at once; mnist_norm.training trains what it describes.
"""

import dataclasses
import json
import math
import os
import sys
import typing

from . import architecture
from . import data as data_lib
from . import rundir
from . import variants

OPTIMIZERS = ("adam", "sgd")
STRATEGIES = ("default", "mirrored")
# Augmentation's settings and their upper bounds (exclusive).
AUGMENT_LIMITS = {"rotation": 180, "shift": 14, "zoom": 1, "shear": 1}


class ConfigError(ValueError):
    """A setting that is not allowed; the message names the flag, the value and what is allowed."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run is made of. Field names are train.py's flags (`batch_size`: --batch-size)."""

    norm: str = "bn"
    seed: int = 1
    epochs: int = 20
    batch_size: int = 128  # per replica
    data: str = "bundled"
    data_dir: typing.Optional[str] = None
    output_dir: str = "outputs"
    train_limit: typing.Optional[int] = None
    test_limit: typing.Optional[int] = None
    validation_size: int = 0
    l1: float = architecture.DEFAULT_L1
    groups: int = architecture.DEFAULT_GROUPS
    group_size: typing.Optional[int] = None  # gn: channels per group instead of a number of groups
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float = 0.01
    warmup_fraction: float = 0.2
    ema: float = 0.0
    architecture: str = architecture.architecture_spec(architecture.ARCHITECTURE)
    augment: bool = True
    rotation: float = 7.0
    shift: float = 2.0
    zoom: float = 0.0
    shear: float = 0.0
    force: bool = False
    deterministic: bool = False
    mixed_precision: bool = False
    xla: bool = False
    strategy: str = "default"
    steps_per_execution: int = 1
    verbose: int = 1

    @classmethod
    def field_types(cls):
        """{field: the type its value is read as (int, float, str or bool)}, for settings given as text."""
        types = {}
        for name, hint in typing.get_type_hints(cls).items():
            types[name] = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
        return types

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @property
    def network(self):
        return architecture.parse_architecture(self.architecture)

    def validate(self, buildable=True):
        """Returns the config if every setting is allowed, else raises ConfigError. Writes nothing. `buildable=False`:
        a variant this Keras cannot build is allowed (a finished run of it is read, not trained)."""
        def flag(name):
            return f"--{name.replace('_', '-')}"

        if self.norm not in variants.ALL_NORMS:
            raise ConfigError(f"--norm {self.norm!r}: expected one of {', '.join(variants.ALL_NORMS)}")
        missing = variants.missing_keras(self.norm) if buildable else None
        if missing:
            raise ConfigError(f"--norm {self.norm}: {missing}")
        for name in ("epochs", "batch_size", "steps_per_execution"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{flag(name)} must be >= 1; received {getattr(self, name)}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{flag(name)} must be >= 1; received {value}")
        if self.data not in data_lib.SOURCES:
            raise ConfigError(f"--data {self.data!r}: expected one of {', '.join(data_lib.SOURCES)}")
        if self.data_dir is not None and self.data != "bundled":
            raise ConfigError(f"--data {self.data} and --data-dir {self.data_dir!r} name two sources; give one")
        if self.data_dir is not None and not os.path.isdir(self.data_dir):
            raise ConfigError(f"--data-dir {self.data_dir!r}: no such folder")
        if self.validation_size < 0:
            raise ConfigError(f"--validation-size must be >= 0; received {self.validation_size}")
        if not (self.l1 >= 0 and math.isfinite(self.l1)):
            raise ConfigError(f"--l1 must be a finite number >= 0; received {self.l1}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout must be in [0, 1); received {self.dropout}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer {self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be > 0; received {self.lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"--warmup-fraction must be in [0, 1); received {self.warmup_fraction}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"--ema must be in [0, 1) (0: off); received {self.ema}")
        try:
            network = self.network
        except ValueError as error:
            raise ConfigError(f"--architecture: {error}") from None
        for name, upper in AUGMENT_LIMITS.items():
            value = getattr(self, name)
            if not 0 <= value < upper:
                raise ConfigError(f"--{name} must be in [0, {upper}); received {value}")
        if self.group_size is not None:
            if not variants.VARIANTS[self.norm].own("group_size"):
                raise ConfigError(f"--group-size applies to --norm {variants.owner('group_size')} only; received "
                                  f"--norm {self.norm}")
            if self.groups != architecture.DEFAULT_GROUPS:
                raise ConfigError(f"--groups {self.groups} and --group-size {self.group_size} both set the groups; "
                                  "give one")
            for spec in network:
                if self.group_size < 1 or spec.filters % self.group_size:
                    allowed = [str(g) for g in range(1, min(s.filters for s in network) + 1)
                               if all(s.filters % g == 0 for s in network)]
                    raise ConfigError(f"--group-size {self.group_size} does not divide the {spec.filters} channels "
                                      f"of layer {spec.name}; allowed: {', '.join(allowed)}")
        elif variants.VARIANTS[self.norm].own("groups"):
            channels = sorted({spec.filters for spec in network})
            if self.groups < 1 or any(c % self.groups for c in channels):
                allowed = [str(g) for g in range(1, channels[0] + 1) if all(c % g == 0 for c in channels)]
                raise ConfigError(f"--groups {self.groups} does not divide the channel counts {channels}; "
                                  f"allowed: {', '.join(allowed)}")
        if not 0 <= self.seed < 2**31:
            raise ConfigError(f"--seed must be in [0, {2**31 - 1}]; received {self.seed}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy {self.strategy!r}: expected one of {', '.join(STRATEGIES)}")
        if self.verbose not in (0, 1, 2):
            raise ConfigError(f"--verbose {self.verbose!r}: expected 0, 1 or 2")
        return self

    def augmentation(self):
        """The `data.augmenter` arguments of a run, or False without augmentation."""
        if not self.augment:
            return False
        return {"rotation_degrees": self.rotation, "shift_pixels": self.shift, "zoom": self.zoom,
                "shear": self.shear}

    def precision_policy(self):
        """float32, or mixed_float16 on GPU / mixed_bfloat16 on CPU with --mixed-precision."""
        if not self.mixed_precision:
            return "float32"
        import tensorflow as tf  # only once training starts: TensorFlow is loaded by then

        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"

    def record(self, data_source):
        """What determines a run's result (its config.json); a finished run is reused only if this matches."""
        variant = variants.VARIANTS[self.norm]
        return {
            "norm": self.norm, "seed": self.seed, "epochs": self.epochs, "batch_size": self.batch_size,
            "optimizer": self.optimizer, "lr": self.lr, "warmup_fraction": self.warmup_fraction,
            # A variant's own settings, None for the others (as config.json has always held them).
            "l1": self.l1 if variant.own("l1") else None,
            "groups": self.groups if variant.own("groups") and self.group_size is None else None,
            "architecture": architecture.architecture_spec(self.network),
            "dropout": self.dropout, "augment": self.augmentation(), "train_limit": self.train_limit,
            "test_limit": self.test_limit, "validation_size": self.validation_size, "data": data_source,
            "mixed_precision": self.mixed_precision, "strategy": self.strategy,
            "deterministic": self.deterministic,
            # Recorded only when on, so that the configs of runs made before the setting existed still match.
            **({"ema": self.ema} if self.ema else {}),
            **({"group_size": self.group_size} if self.group_size is not None else {}),
        }


# ----------------------------------------------------------------------------- train.py's flags and runs


ALL = "all"


DEFAULTS = TrainConfig()  # every flag's default is the configuration's


def flag_parser(prog="train.py", description="Trains the MNIST CNN and writes histories, models and figures."):
    """train.py's flags, every default the configuration's (sweep.py and benchmark.py parse a recipe with it)."""
    parser = rundir.Parser(prog=prog, description=description)
    parser.add_argument("--norm", default=ALL, choices=(*variants.ALL_NORMS, ALL),
                        help="variant(s) to train; all: bn, gn and ln (none, the control, only by name)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="passes over the training images")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="images per step (per replica)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed,
                        help="sets the initial weights, the batches' order and the augmentation")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="several seeds; runs go to <norm>/seed-<k>/ (default: --seed alone, in <norm>/)")
    parser.add_argument("--data", choices=data_lib.SOURCES, default=DEFAULTS.data,
                        help="bundled: the checksum-guarded IDX files in data/mnist/ (offline); "
                             "tfds: tensorflow-datasets (its cache, or a download)")
    parser.add_argument("--data-dir", help="folder with the 4 MNIST IDX files (.gz or not); replaces --data")
    parser.add_argument("--output-dir", default=DEFAULTS.output_dir,
                        help="folder of the runs, their summary and figures; a run of other settings already there "
                             "is never replaced without --force")
    parser.add_argument("--train-limit", type=int, help="use only the first N training images (default: all)")
    parser.add_argument("--test-limit", type=int, help="use only the first N test images (default: all)")
    parser.add_argument("--validation-size", type=int, default=DEFAULTS.validation_size,
                        help="hold out the last N training images and evaluate on them instead of the test set "
                             "(for choosing the recipe; the test set is then never touched)")
    # Given only for the norms they apply to (an error otherwise); their defaults are the configuration's.
    for name, (norm, setting) in variants.SETTINGS.items():  # each variant's own flags, from its record
        default = "none" if setting.default is None else f"{setting.default:g}"
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(setting.default or 0),
                            help=f"{setting.help} ({norm} only; default {default})")
    parser.add_argument("--dropout", type=float, default=DEFAULTS.dropout, help="dropout before the head; 0: none")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer,
                        help="adam, or sgd with Nesterov momentum 0.9")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="peak learning rate")
    parser.add_argument("--warmup-fraction", type=float, default=DEFAULTS.warmup_fraction,
                        help="fraction of all steps spent warming the learning rate up (then cosine to zero)")
    parser.add_argument("--ema", type=float, default=DEFAULTS.ema, metavar="MOMENTUM",
                        help="evaluate and export an exponential moving average of the weights with this "
                             "momentum, e.g. 0.999 (Keras' use_ema); 0: off")
    parser.add_argument("--architecture", default=DEFAULTS.architecture,
                        help="conv blocks as <filters>[k<kernel>][p],... (p: 2x2 max-pool after it); "
                             "default: %(default)s")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="train on the images as they are (default: random rotation and shift)")
    parser.add_argument("--rotation", type=float, default=DEFAULTS.rotation, help="augmentation: max rotation, degrees")
    parser.add_argument("--shift", type=float, default=DEFAULTS.shift, help="augmentation: max shift, pixels")
    parser.add_argument("--zoom", type=float, default=DEFAULTS.zoom, help="augmentation: scale by 1 +- up to this")
    parser.add_argument("--shear", type=float, default=DEFAULTS.shear, help="augmentation: shear factor up to this")
    parser.add_argument("--force", action="store_true", help="retrain runs that already finished")
    parser.add_argument("--deterministic", action="store_true", help="enable TF op determinism")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 on GPU (mixed_bfloat16 on CPU); logits stay float32")
    parser.add_argument("--xla", action="store_true", help="compile train/eval steps with XLA")
    parser.add_argument("--strategy", choices=STRATEGIES, default=DEFAULTS.strategy,
                        help="mirrored: tf.distribute.MirroredStrategy over the visible GPUs")
    parser.add_argument("--steps-per-execution", type=int, default=DEFAULTS.steps_per_execution,
                        help="training steps per call into the compiled graph")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2),
                        help="Keras fit verbosity: 0 silent, 1 progress bars, 2 one line per epoch (default: 1 on a "
                             "terminal or in a notebook, 2 when the output goes to a file or pipe)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's C++ log lines")
    return parser


def flag_settings(args, norms):
    """TrainConfig's fields from parsed flags, a flag left out taking the configuration's default. Raises
    ConfigError for a norm's own flag (--l1, --groups, --group-size) when no variant in `norms` uses it."""
    settings = {}
    for name in TrainConfig.field_types():
        if not hasattr(args, name):
            continue
        value = getattr(args, name)
        owner = variants.owner(name)  # a norm's own flag, given for other norms only, would be ignored
        if owner and value is not None and owner not in norms:
            raise ConfigError(f"--{name.replace('_', '-')} {value:g} applies to --norm {owner} only; "
                              f"received --norm {', '.join(norms)}")
        settings[name] = getattr(DEFAULTS, name) if owner and value is None else value
    return settings


def progress_verbosity(stream=None):
    """Keras' fit verbosity for output going to `stream` (default stdout): progress bars (1) on a terminal or in a
    notebook, one line per epoch (2) in a file or a pipe, where a bar's carriage returns would fill a log with
    thousands of lines."""
    stream = sys.stdout if stream is None else stream
    interactive = getattr(stream, "isatty", lambda: False)()
    return 1 if interactive or "ipykernel" in sys.modules else 2


def configs(args):
    """One validated TrainConfig per (variant, seed) the flags ask for, variants first."""
    norms = variants.NORMS if args.norm == ALL else (args.norm,)
    seeds = list(dict.fromkeys(args.seeds)) if args.seeds else [args.seed]
    settings = flag_settings(args, norms)
    if settings.get("verbose") is None:
        settings["verbose"] = progress_verbosity()
    return [TrainConfig(**{**settings, "norm": norm, "seed": seed}).validate()
            for norm in norms for seed in seeds]




def run_dirs(configs):
    """[(config, its run folder)] for train.py's configs: <output-dir>/<norm>/ for one seed, else
    <output-dir>/<norm>/seed-<k>/."""
    several = len({config.seed for config in configs}) > 1
    return [(config, rundir.run_dir_for(config.output_dir, config.norm, config.seed, several)) for config in configs]


# ----------------------------------------------------------------------------- a folder's earlier run


class RunConflict(ConfigError):
    """A run's folder holds a run of other settings (finished, or with epochs done); nothing was changed."""


def _held(run_dir):
    """The record of the run `run_dir` holds (its config.json), or None."""
    path = rundir.file(run_dir, "config")
    return rundir.read_json(path) if os.path.exists(path) else None


def _stale(run_dir, record):
    """Whether `run_dir` holds a config.json of other settings than `record`."""
    held = _held(run_dir)
    return held is not None and held != record


def finished(config, run_dir, data_source):
    """Whether `run_dir` holds a finished run of `config` that train_run would reuse."""
    return not config.force and not _stale(run_dir, config.record(data_source)) and rundir.is_finished(run_dir)


def _spelled(value):
    return "all" if value is None else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def differences(held, record, shown=4):
    """The settings that differ between two run records, in words: "epochs 20 there, 2 asked; ..."."""
    keys = [key for key in dict.fromkeys([*record, *held]) if held.get(key) != record.get(key)]
    words = [f"{key.replace('_', '-')} {_spelled(held.get(key))} there, {_spelled(record.get(key))} asked"
             for key in keys[:shown]]
    return "; ".join(words) + (f"; {len(keys) - shown} more" if len(keys) > shown else "")


def conflict(config, run_dir, data_source):
    """None, or the one line saying that `run_dir` holds a run of other settings than `config` (finished, or with
    epochs done) and the two ways on. With config.force there is none: the run is replaced."""
    if config.force:
        return None
    record, held = config.record(data_source), _held(run_dir)
    if held is None or held == record:
        return None
    if rundir.is_finished(run_dir):
        what, way = "a finished run", "--force to replace it"
    else:
        history = rundir.file(run_dir, "history")
        done = len(rundir.read_history(history)) if os.path.exists(history) else 0
        what = f"an unfinished run ({done} epoch{'' if done == 1 else 's'} done)"
        way = "--force to start it afresh"
    return (f"{run_dir} holds {what} of other settings ({differences(held, record)}); "
            f"give another --output-dir, or {way}")


def check_folders(pairs):
    """Raises RunConflict, before anything is written, if any (config, run folder) pair's folder holds a run of
    other settings."""
    for config, run_dir in pairs:
        message = conflict(config, run_dir, data_lib.source_name(config.data, config.data_dir))
        if message:
            raise RunConflict(message)
