"""Every command's --help answers without loading TensorFlow and shows each option's default; bad values exit 2."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

# Each command line whose help a user reads: the commands at the root, and each subcommand.
HELP = [["train.py"], ["sweep.py"], ["shift.py"], ["deploy.py"], ["deploy.py", "export"], ["deploy.py", "study"],
        ["predict.py"], ["draw.py"], ["report.py"], ["benchmark.py"], ["normalization_demo.py"], ["colab.py"],
        ["model.py"], ["photos.py"], ["torch_reference.py"], ["reproduce.py"], ["judge.py"]]

# Runs a command's --help in this Python and reports, as JSON, which heavy libraries it loaded, and every option
# the parser that printed the help holds: its flags, default and the help text argparse printed for it.
PROBE = r"""
import argparse, json, runpy, sys
printed = []
original = argparse.ArgumentParser.format_help
def format_help(self):
    text = original(self)
    printed.append((self, text))
    return text
argparse.ArgumentParser.format_help = format_help
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
    code = 0
except SystemExit as error:
    code = error.code
parser, text = printed[-1]
options = []
for action in parser._actions:
    if not action.option_strings or action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
        continue
    formatter = parser._get_formatter()
    options.append({"flags": action.option_strings, "default": repr(action.default),
                    "shown": action.default is not None and not isinstance(action.default, bool) and action.default != [],
                    "help": formatter._format_action(action)})
print(json.dumps({"code": code, "loaded": sorted(m for m in ("tensorflow", "keras", "torch", "matplotlib")
                                                 if m in sys.modules), "options": options}))
"""


def command_names():
    return sorted(name for name in os.listdir(ROOT) if name.endswith(".py"))


def test_every_command_at_the_root_is_in_the_help_list():
    assert command_names() == sorted({line[0] for line in HELP})


@pytest.mark.parametrize("line", HELP, ids=" ".join)
def test_help_loads_no_tensorflow_and_shows_every_default(line):
    found = subprocess.run([sys.executable, "-c", PROBE, *line, "--help"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout.splitlines()[-1])
    assert report["code"] == 0
    assert report["loaded"] == [], f"{' '.join(line)} --help loaded {report['loaded']}"
    for option in report["options"]:
        if option["shown"]:
            assert "default" in option["help"], f"{' '.join(line)}: {option['flags'][-1]} hides its default " \
                                                f"{option['default']}: {option['help']!r}"
