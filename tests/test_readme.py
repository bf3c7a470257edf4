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
