"""Every command README.md shows works as written, in a copy of the project, and leaves its committed files alone."""

import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, changed_files

# The long commands, cut short by flags appended to them (the last value of a flag wins): the same command on less.
CUT_SHORT = {
    "python train.py": "--epochs 1 --train-limit 256 --test-limit 128",
    "python train.py --norm gn --epochs 20 --groups 4": "--epochs 1 --train-limit 256 --test-limit 128",
    "python shift.py": "--seeds 1 --test-limit 500",
    "python deploy.py export": "--seeds 1",
    "python deploy.py study": "--seeds 1 --latency-calls 3",
}
# Serves until stopped: started, asked for its page, stopped.
SERVERS = {"python draw.py": "--port 0"}
# Run by another test: the notebook's (test_notebook.py runs the README's line in this same copy).
ELSEWHERE = {"mkdir -p outputs", "papermill Normalization_Keras.ipynb outputs/Normalization_Keras.ipynb"}


def readme_commands():
    """The commands of README.md's opening block (but the set-up and the tests) and of its "Using it" block, in
    order, each `a && b` as two."""
    with open(os.path.join(ROOT, "README.md")) as handle:
        text = handle.read()
    opening = text.split("```bash\n", 1)[1].split("```", 1)[0]
    using = text.split("\n## Using it\n", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in (opening + using).splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and "pip install" not in line and "pytest" not in line:
            commands += [part.strip() for part in line.split("&&")]
    return commands


def test_every_readme_command_is_run_by_a_test():
    known = {*CUT_SHORT, *SERVERS, *ELSEWHERE}
    as_written = [command for command in readme_commands() if command not in known]
    assert all(command.startswith("python ") for command in as_written), as_written
    assert {"python train.py", "python report.py --update"} <= {*as_written, *CUT_SHORT}


def _in_project_python(command):
    return shlex.quote(sys.executable) + command[len("python"):]


@pytest.mark.slow
def test_readme_commands_work_as_written_and_change_no_committed_file(project_copy):
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for command in readme_commands():
        if command in ELSEWHERE:
            continue
        if command in SERVERS:
            server = subprocess.Popen(_in_project_python(f"{command} {SERVERS[command]}"), shell=True,
                                      cwd=project_copy, stdout=subprocess.PIPE, text=True, env=environment)
            try:
                line = server.stdout.readline()
                url = re.search(r"http://\S+/", line)
                assert url, f"{command}: {line!r}"
                with urllib.request.urlopen(url.group(0), timeout=30) as page:
                    assert page.status == 200 and b"<canvas" in page.read()
            finally:
                server.kill()
                server.wait()
            continue
        started = time.perf_counter()
        run = subprocess.run(_in_project_python(f"{command} {CUT_SHORT.get(command, '')}"), shell=True,
                             cwd=project_copy, capture_output=True, text=True, timeout=600, env=environment)
        assert run.returncode == 0 and "Traceback" not in run.stderr, (command, run.stderr[-2000:])
        assert changed_files(project_copy) == [], (command, f"{time.perf_counter() - started:.0f} s")
