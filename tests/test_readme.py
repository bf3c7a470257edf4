"""README.md's tables are exactly what report.py renders from results/ (and from the code)."""

import os
import re

from mnist_norm import report

from conftest import ROOT  # noqa: E402


def readme():
    with open(os.path.join(ROOT, "README.md")) as handle:
        return handle.read()


def test_every_marked_block_matches_what_report_renders():
    rendered = report.blocks()
    seen = []
    for path in report.documents():
        with open(path) as handle:
            text = handle.read()
        for name in re.findall(r"<!-- report:(\w+) -->", text):
            where = f"{os.path.relpath(path, ROOT)}: block {name!r}"
            assert name in rendered, f"{where} has no source file under results/"
            body = report.block_pattern(name).search(text).group(2)
            assert body == rendered[name], f"{where} is out of date: run python report.py --update"
            seen.append(name)
    assert "headline" in seen and len(seen) == len(set(seen)), seen  # each table in one place


def test_readme_is_short_and_links_its_lab_notes():
    text = readme()
    assert len(text.splitlines()) <= 330  # what it is, the norms, the findings and how to use it; lab notes in docs/
    head = "\n".join(text.splitlines()[:40])
    assert "python -m pytest -q" in head and "<!-- report:headline -->" in head
    linked = re.findall(r"\]\((docs/[^)#]+\.md)", text)
    assert linked and all(os.path.isfile(os.path.join(ROOT, path)) for path in linked)


def test_readme_opens_with_install_main_and_test_commands():
    first_block = readme().split("```")[1]
    assert "pip install -r requirements.txt" in first_block
    assert "python train.py" in first_block
    assert "python -m pytest -q" in first_block
    with open(os.path.join(ROOT, ".ci", "run")) as handle:
        assert "python -m pytest -q" in handle.read()


def test_every_figure_shown_exists():
    for document in report.documents():
        with open(document) as handle:
            text = handle.read()
        for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
            assert os.path.isfile(os.path.join(os.path.dirname(document), path)), (document, path)


def test_validation_table_means_only_recipes_with_all_three_models():
    def entry(accuracy):
        run = {"seed": 1, "final_accuracy": accuracy, "best_accuracy": accuracy, "best_epoch": 20}
        return {"runs": [run], "config": {"l1": 1e-5, "groups": 4}, "trainable_params": 7568,
                "final_accuracy_mean": accuracy, "best_accuracy_mean": accuracy, "final_ce_mean": 0.02,
                "mean_epoch_seconds_mean": 9.0}
    summaries = {"all": {"variants": {"bn": entry(0.9940), "gn": entry(0.9946), "ln": entry(0.9943)}},
                 "bn-alone": {"variants": {"bn": entry(0.9950)}}}
    table = report.speed.validation(summaries)
    assert "| all | **mean of the three** | | **99.43 %** |" in table
    assert "bn-alone | BN + L1" in table and "bn-alone | **mean" not in table


def test_batch_size_table_shows_mean_and_seed_range_per_model():
    runs = [{"norm": norm, "batch_size": size, "seed": seed, "lr": 0.01 * (size / 128) ** 0.5,
             "steps_per_epoch": 60000 // size, "final_accuracy": accuracy + 0.001 * (seed - 1), "final_ce": 0.05,
             "train_seconds": 60.0}
            for norm, accuracy in (("bn", 0.98), ("gn", 0.99), ("ln", 0.99)) for size in (2, 128) for seed in (1, 2)]
    summary = {"runs": runs, "settings": {"epochs": 2, "lr_rule": "sqrt rule", "base_batch_size": 128},
               "machine": {"processor": "cpu", "cpu_count": 2}, "versions": {"tensorflow": "2.x"}}
    table = report.batch_size.batch_size(summary)
    assert "| 2 | 0.00125 | 30,000 | 98.05 (98.00–98.10) | 99.05 (99.00–99.10) | 99.05 (99.00–99.10) |" in table
    assert report.batch_size.batch_size_headline(summary) == (
        "test accuracy after 2 epochs, mean of seeds; batch 2: BN + L1 98.05 %, GN 99.05 %, LN 99.05 %; "
        "batch 128: BN + L1 98.05 %, GN 99.05 %, LN 99.05 %")
    test_time = report.batch_size.bn_test_time({"test_images": 10000, "models": [
        {"trained_batch_size": 2, "seed": 1, "moving_averages": 0.981, "batch_statistics": {"1": 0.5, "1000": 0.98}}]})
    assert "| 2 (seed 1) | 98.10 % | 50.00 % | 98.00 % |" in test_time


def test_comparison_lists_each_earlier_network_before_the_current_one():
    def summary(accuracy, params):
        entry = {"trainable_params": params, "runs": [{}, {}, {}], "final_accuracy_mean": accuracy}
        return {"variants": {norm: dict(entry) for norm in ("bn", "gn", "ln")}}
    table = report.study.comparison(summary(0.9944, 7568), {"course network": summary(0.9950, 7432),
                                                      "pool after block 2": summary(0.9940, 7568)})
    rows = [line for line in table.splitlines() if line.startswith("| ") and "this project" in line]
    assert rows == ["| this project, course network (earlier run), mean of 3 seeds | 7,432 | 99.50 | 99.50 | 99.50 |",
                    "| this project, pool after block 2 (earlier run), mean of 3 seeds | 7,568 | 99.40 | 99.40 | 99.40 |",
                    "| **this project, mean of 3 seeds** | 7,568 | **99.44** | **99.44** | **99.44** |"]
    assert report.study.comparison(summary(0.9944, 7568)).count("this project") == 1


def test_learning_rate_verdict_names_the_range_that_trains_and_counts_divergence():
    def run(norm, lr, accuracy, diverged=False):
        return {"norm": norm, "optimizer": "sgd", "lr": lr, "seed": 1, "diverged": diverged,
                "final_accuracy": None if diverged else accuracy, "train_seconds": 1.0}
    runs = [run("bn", 0.001, 0.99), run("bn", 0.003, 0.5), run("bn", 0.01, 0.985), run("bn", 0.1, 0.99),
            run("bn", 1.0, 0.97),
            run("none", 0.01, 0.981), run("none", 0.1, 0.5), run("none", 1.0, None, diverged=True),
            run("gn", 0.01, 0.97)]
    summary = {"runs": runs, "settings": {"epochs": 2, "seeds": [1], "batch_size": 128, "warmup_fraction": 0.2},
               "machine": {"processor": "cpu"}}
    verdict = report.learning_rate.learning_rate_verdict(summary)
    assert "BN + L1 0.01–0.1 (1.0 decades)" in verdict and "no norm 0.01–0.01 (0.0 decades)" in verdict
    assert "GN at no rate" in verdict and "Runs whose loss became NaN: no norm (sgd)." in verdict
    assert "LN" not in verdict  # no runs: not a model that trains "at no rate"
    # A diverged run counts as chance in the table, as in the figure (plots.plot_learning_rate).
    table = report.learning_rate.learning_rate_table(summary)
    assert "| sgd | 1 | 97.00 (97.00–97.00) | – | 10.00 (10.00–10.00), 1 of 1 diverged |" in table
    assert "at batch 128 (warm-up 20 %, cosine to 0)" in table and "counts as chance (10 %)" in table


def test_l1_table_reads_the_last_epochs_kernel_statistics():
    def run(l1, seed, accuracy, zero, head):
        norms = {f"block{k}_conv": 3.0 for k in range(1, 6)} | {"head_conv": head}
        return {"l1": l1, "seed": seed, "final_accuracy": accuracy, "final_ce": 0.02,
                "kernel_norms": [{**norms, "head_conv": 99.0}, norms], "near_zero_all": [0.0, zero]}
    summary = {"runs": [run(0.0, 1, 0.99, 0.01, 4.0), run(0.0, 2, 0.98, 0.03, 6.0), run(0.001, 1, 0.97, 0.5, 1.0)],
               "settings": {"epochs": 20}}
    table = report.l1.l1_table(summary)
    assert "| 0 | 98.50 (98.00–99.00) | 0.0200 | 2.0 % | 6.71 | 5.00 |" in table  # sqrt(5 * 3**2) = 6.71
    assert "| 0.001 | 97.00 (97.00–97.00) | 0.0200 | 50.0 % | 6.71 | 1.00 |" in table
    assert "the head's from 5.00 to 1.00" in report.l1.l1_verdict(summary)


def test_shift_table_and_verdict_average_over_seeds_per_model_and_mode():
    rows = []
    for norm, mode, base in (("bn", "moving_averages", 0.9), ("bn", "batch_statistics_1000", 0.95),
                             ("bn", "batch_statistics_8", 0.93), ("gn", "inference", 0.8),
                             ("ln", "inference", 0.7), ("none", "inference", 0.6)):
        for seed in (1, 2):
            for k, name in enumerate(("clean", "contrast 0.25", "grey background")):
                rows.append({"norm": norm, "seed": seed, "mode": mode, "shift": name,
                             "accuracy": base - 0.1 * k + 0.02 * seed})
    summary = {"runs": rows, "test_images": 10000,
               "shifts": {"clean": "as is", "contrast 0.25": "fainter", "grey background": "grey"}}
    table = report.shift.shift_table(summary)
    assert "| contrast 0.25 | 83.0 (82.0–84.0) | 88.0 (87.0–89.0) | 86.0 (85.0–87.0) | 73.0 (72.0–74.0) |" in table
    verdict = report.shift.shift_verdict(summary)
    assert ("Fainter ink (contrast ×0.25): BN + L1 (moving averages) 83.0 (82.0–84.0), GN 73.0 (72.0–74.0), "
            "LN 63.0 (62.0–64.0), no norm 53.0 (52.0–54.0) %") in verdict
    assert "the models rank BN + L1 78.0, GN 68.0, LN 58.0, no norm 48.0 %" in verdict
