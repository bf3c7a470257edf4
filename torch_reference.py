"""The course CNN in PyTorch, timed for benchmark.py's side-by-side comparison (not part of the project).

    /path/to/torch-venv/bin/python torch_reference.py --images 15360 --batch-size 128
    /path/to/torch-venv/bin/python torch_reference.py --architecture '[["block1", 8, 3, false], ...]'

By default the course-style network (model.COURSE_ARCHITECTURE's numbers, copied below so
this file needs only torch and numpy): 3x3 convs without bias, norm, ReLU, a 1x1
transition and max-pool, GAP, 1x1 head. --architecture times another layer table
(benchmark.py passes this project's model.ARCHITECTURE, to separate the framework's
speed from the network's cost). BN is nn.BatchNorm2d, GN nn.GroupNorm(4, C), LN
nn.GroupNorm(1, C), as in the course. Prints one JSON object with training and
inference img/s per variant.
"""

import argparse
import json
import statistics
import time

import sys

import numpy as np

try:  # only where it runs: --help and a missing PyTorch answer without it
    import torch
    from torch import nn
except ImportError:
    torch = nn = None

# (name, filters, kernel, pool_after): mirrors model.COURSE_ARCHITECTURE (a test checks they agree).
COURSE_ARCHITECTURE = (
    ("block1", 8, 3, False),
    ("block2", 16, 3, False),
    ("transition1", 8, 1, True),
    ("block3", 16, 3, False),
    ("block4", 16, 3, False),
    ("block5", 16, 3, False),
)


def build(norm, architecture=COURSE_ARCHITECTURE, groups=4):
    layers, channels = [], 1
    for _, filters, kernel, pool in architecture:
        layers.append(nn.Conv2d(channels, filters, kernel, bias=False))
        layers.append({"bn": lambda c: nn.BatchNorm2d(c), "gn": lambda c: nn.GroupNorm(groups, c),
                       "ln": lambda c: nn.GroupNorm(1, c)}[norm](filters))
        layers.append(nn.ReLU())
        if pool:
            layers.append(nn.MaxPool2d(2))
        channels = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, 10, 1, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


def time_variant(norm, architecture, images, labels, batch_size, repeats):
    torch.manual_seed(0)
    net = build(norm, architecture)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    loss_fn = nn.CrossEntropyLoss()

    def train_pass():
        net.train()
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch_size):
            index = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(images[index]), labels[index])
            loss.backward()
            optimizer.step()

    def infer_pass():
        net.eval()
        with torch.no_grad():
            for start in range(0, len(images), 1000):
                net(images[start : start + 1000])

    result = {}
    for name, run in (("train", train_pass), ("inference", infer_pass)):
        run()  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        result[f"{name}_img_per_s"] = len(images) / statistics.median(times)
    return result


def main():
    parser = argparse.ArgumentParser(prog="torch_reference.py", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--images", type=int, default=15360, help="random images timed per pass")
    parser.add_argument("--batch-size", type=int, default=128, help="images per training step")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the median is reported")
    parser.add_argument("--norms", nargs="+", default=["bn", "gn", "ln"], help="the variants to time")
    parser.add_argument("--architecture", type=json.loads, default=COURSE_ARCHITECTURE,
                        help="JSON list of [name, filters, kernel, pool_after]; default: the course network")
    args = parser.parse_args()
    if torch is None:
        print("torch_reference.py: error: PyTorch is not installed here (pip install torch; benchmark.py "
              "--torch-python names another Python that has it)", file=sys.stderr)
        return 1
    rng = np.random.default_rng(0)
    # Standardized pixels and labels: the network's cost does not depend on the values.
    images = torch.from_numpy(rng.normal(size=(args.images, 1, 28, 28)).astype("float32"))
    labels = torch.from_numpy(rng.integers(0, 10, size=args.images))
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "variants": {}}
    for norm in args.norms:
        report["variants"][norm] = time_variant(norm, args.architecture, images, labels, args.batch_size,
                                                args.repeats)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
