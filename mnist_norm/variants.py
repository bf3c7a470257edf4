"""The study's variants, one record each (`Variant`), importable without TensorFlow.

A variant is its record in `VARIANTS` plus its Keras layer (`network.LAYERS`, under the same name): the flags and
their checks, the run's record, the figures' labels and colours, the group axis, the deployment study's folding and
the report all read the record. predict.py (with its LiteRT files) and draw.py start without TensorFlow and read it
too. The names below (`NORMS`, `ALL_NORMS`, `NORM_LABELS`, ...) are views of `VARIANTS`, not second lists.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """A variant's own setting: its `TrainConfig` field (the flag --<name with dashes>), default and help. A run's
    config.json records it for the variant that owns it and None for the others."""

    name: str
    default: object
    help: str


@dataclass(frozen=True)
class Variant:
    name: str  # what --norm takes, and a run folder's name
    label: str  # in figures, tables and answers
    color: str  # in figures and on the drawing page
    settings: tuple = ()  # its own flags (Setting)
    # Its place on the group axis (GN's Table 3): "one" (all channels of a layer in one group), "channel" (one
    # channel per group), "setting" (its --groups or --group-size), None (not on the axis).
    groups: object = None
    folds: bool = False  # at inference a fixed per-channel scale and shift, folded into the conv by the converter
    batch_dependent: bool = False  # its training output depends on the other images of the batch
    normalized: bool = True  # False for the control
    conv: str = "plain"  # "standardized": the convs before it standardize their kernels (Weight Standardization)
    activation: bool = False  # its layer is the block's activation too (FRN's TLU): no ReLU after it
    keras: str = ""  # the lowest Keras version that has its layer, where that is above the lowest supported
    # Answers photos and drawings by default (predict.py, the drawing page, the refusals study): their majority and
    # agreement are measured with these models, so a variant joins them when that study is rerun with it.
    reads: bool = True
    assignment: bool = False  # one of the assignment's three: `--norm all`, the joint graphs and the grids

    def own(self, field):
        return any(setting.name == field for setting in self.settings)


# Matplotlib's tab10 blue, orange, green and purple, and black: the figures' and the drawing page's colours.
VARIANTS = {variant.name: variant for variant in (
    Variant("bn", "BN + L1", "#1f77b4", (Setting("l1", 1e-5, "L1 factor on conv kernels"),), folds=True,
            batch_dependent=True, assignment=True),
    Variant("gn", "GN", "#ff7f0e", (Setting("groups", 4, "groups in every normalized layer"),
                                    Setting("group_size", None, "channels per group in every layer instead of a "
                                                                "number of groups (1: IN)")),
            groups="setting", assignment=True),
    Variant("ln", "LN", "#2ca02c", groups="one", assignment=True),
    # Instance Norm (issue 30), the GN paper's fourth: GN with one channel per group. An extra variant, like the control.
    Variant("in", "IN", "#9467bd", groups="channel"),
    # The control without normalization (issue 21): a bias in each conv where the norms' beta would be.
    Variant("none", "no norm", "#000000", folds=True, normalized=False),
    # After Group Norm (issue 46). Batch Renormalization (Ioffe 2017): BN with the batch's statistics corrected
    # towards the moving averages (r, d; clipped, the clipping relaxed over training); BN at inference.
    Variant("brn", "BRN", "#8c564b", folds=True, batch_dependent=True, keras="3.14", reads=False),  # renorm=True
    # GN (4 groups) after weight-standardized convs (Qiao et al. 2019), the pair BiT trained with.
    Variant("gnws", "GN + WS", "#e377c2", conv="standardized", reads=False),
    # Filter Response Normalization + TLU (Singh & Krishnan 2020): per image and channel, no mean, no batch.
    Variant("frn", "FRN", "#bcbd22", activation=True, reads=False),
    # RMSNorm (Zhang & Sennrich 2019): LN without the mean (and without a shift), over (H, W, C) of each image.
    Variant("rms", "RMSNorm", "#17becf", reads=False),
)}


def register(variant):
    """Adds a variant (its layer goes into network.LAYERS under the same name); the views below follow."""
    VARIANTS[variant.name] = variant
    _views()


def unregister(name):
    VARIANTS.pop(name)
    _views()


def _views():
    global NORMS, ALL_NORMS, NORM_LABELS, COLORS, BATCH_DEPENDENT, SETTINGS, READERS
    NORMS = tuple(n for n, v in VARIANTS.items() if v.assignment)
    ALL_NORMS = tuple(VARIANTS)
    NORM_LABELS = {n: v.label for n, v in VARIANTS.items()}
    COLORS = {n: v.color for n, v in VARIANTS.items()}
    BATCH_DEPENDENT = tuple(n for n, v in VARIANTS.items() if v.batch_dependent)
    READERS = tuple(n for n, v in VARIANTS.items() if v.reads)  # the models that answer photos and drawings
    # Every variant's own settings, by field, with the variant that owns it.
    SETTINGS = {setting.name: (name, setting) for name, v in VARIANTS.items() for setting in v.settings}


NORMS = ALL_NORMS = BATCH_DEPENDENT = READERS = ()
NORM_LABELS = COLORS = SETTINGS = {}
_views()
INSTANCE = "in"
CONTROL = "none"


def missing_keras(norm):
    """None, or why the installed Keras cannot build `norm`'s layer (older than the variant's `keras`)."""
    needed = VARIANTS[norm].keras
    if not needed:
        return None
    import importlib.metadata

    from packaging.version import Version

    installed = importlib.metadata.version("keras")
    if Version(installed) >= Version(needed):
        return None
    return f"needs Keras >= {needed} (its layer is Keras' own); this Python has Keras {installed}"


def available():
    """The variants the installed Keras can build (every one, from Keras 3.14 on)."""
    return tuple(norm for norm in ALL_NORMS if not missing_keras(norm))


def default(field):
    """The default of a variant's own setting (`Setting.default`), e.g. default("groups") == 4."""
    return SETTINGS[field][1].default


def owner(field):
    """The variant whose own setting `field` is ("bn" for "l1"), or None for a setting every variant has."""
    return SETTINGS[field][0] if field in SETTINGS else None


def variant_label(norm, config):
    """Legend label of a variant, e.g. "GN (4 groups)", from a run's config (l1, groups)."""
    if norm == "bn" and config.get("l1") is not None:
        return f"{NORM_LABELS[norm]} (λ={config['l1']:g})"
    if norm == "gn" and config.get("group_size"):
        return f"{NORM_LABELS[norm]} ({config['group_size']} channels per group)"
    if norm == "gn":
        return f"{NORM_LABELS[norm]} ({config['groups']} groups)"
    return NORM_LABELS[norm]
