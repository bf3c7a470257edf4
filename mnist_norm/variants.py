"""The study's variants: names, labels and colours, importable without TensorFlow.

Adding a variant means a name here and a branch in `model.norm_layer`; every command, table and figure takes the
list from here. predict.py (with its LiteRT files) and draw.py start without TensorFlow and read it too.
"""

# The assignment's three: `--norm all`, the joint graphs and the three grids.
NORMS = ("bn", "gn", "ln")
# Instance Norm (issue 30), the GN paper's fourth: GN with one channel per group. An extra variant, like the control.
INSTANCE = "in"
# The control without normalization (issue 21): a bias in each conv where the norms' beta would be.
CONTROL = "none"
ALL_NORMS = (*NORMS, INSTANCE, CONTROL)
# Every variant with a normalization layer (the batch-size study's models).
NORMALIZED = (*NORMS, INSTANCE)
NORM_LABELS = {"bn": "BN + L1", "gn": "GN", "ln": "LN", "in": "IN", "none": "no norm"}
# Matplotlib's tab10 blue, orange, green and purple, and black: the figures' and the drawing page's colours.
COLORS = {"bn": "#1f77b4", "gn": "#ff7f0e", "ln": "#2ca02c", "in": "#9467bd", "none": "#000000"}
# Whose prediction depends on the other images of its batch unless it uses moving averages.
BATCH_DEPENDENT = ("bn",)


def variant_label(norm, config):
    """Legend label of a variant, e.g. "GN (4 groups)", from a run's config (l1, groups)."""
    if norm == "bn" and config.get("l1") is not None:
        return f"{NORM_LABELS[norm]} (λ={config['l1']:g})"
    if norm == "gn" and config.get("group_size"):
        return f"{NORM_LABELS[norm]} ({config['group_size']} channels per group)"
    if norm == "gn":
        return f"{NORM_LABELS[norm]} ({config['groups']} groups)"
    return NORM_LABELS[norm]
