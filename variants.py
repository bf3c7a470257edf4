"""The names of the study's variants, importable without TensorFlow.

predict.py (with its LiteRT files) and draw.py start without TensorFlow: they take the names from here, as
model.py does.
"""

NORMS = ("bn", "gn", "ln")
# The control without normalization (issue 21): a bias in each conv where the norms' beta would be. It is not a
# fourth variant of the assignment: `--norm all`, the graphs and the grids stay the three NORMS.
CONTROL = "none"
ALL_NORMS = (*NORMS, CONTROL)
NORM_LABELS = {"bn": "BN + L1", "gn": "GN", "ln": "LN", "none": "no norm"}
