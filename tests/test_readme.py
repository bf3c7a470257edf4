"""README.md's tables are exactly what report.py renders from results/ (and from the code)."""

import os
import re

import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme():
    with open(os.path.join(ROOT, "README.md")) as handle:
        return handle.read()


def test_every_marked_block_matches_what_report_renders():
    text = readme()
    names = re.findall(r"<!-- report:(\w+) -->", text)
    rendered = report.blocks()
    assert names, "README has no report blocks"
    for name in names:
        assert name in rendered, f"README block {name!r} has no source file under results/"
        body = report.block_pattern(name).search(text).group(2)
        assert body == rendered[name], f"README block {name!r} is out of date: run python report.py --update README.md"


def test_readme_opens_with_install_main_and_test_commands():
    first_block = readme().split("```")[1]
    assert "pip install -r requirements.txt" in first_block
    assert "python train.py" in first_block
    assert "python -m pytest -q" in first_block
    with open(os.path.join(ROOT, ".ci", "run")) as handle:
        assert "python -m pytest -q" in handle.read()


def test_readme_figures_exist():
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme()):
        assert os.path.isfile(os.path.join(ROOT, path)), path


def test_validation_table_means_only_recipes_with_all_three_models():
    def entry(accuracy):
        run = {"seed": 1, "final_accuracy": accuracy, "best_accuracy": accuracy, "best_epoch": 20}
        return {"runs": [run], "config": {"l1": 1e-5, "groups": 4}, "trainable_params": 7568,
                "final_accuracy_mean": accuracy, "best_accuracy_mean": accuracy, "final_ce_mean": 0.02,
                "mean_epoch_seconds_mean": 9.0}
    summaries = {"all": {"variants": {"bn": entry(0.9940), "gn": entry(0.9946), "ln": entry(0.9943)}},
                 "bn-alone": {"variants": {"bn": entry(0.9950)}}}
    table = report.validation(summaries)
    assert "| all | **mean of the three** | | **99.43 %** |" in table
    assert "bn-alone | BN + L1" in table and "bn-alone | **mean" not in table
