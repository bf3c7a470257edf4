"""docs/architecture.md is true: its module table is the package's import graph, commands import only the package,
and the package imports no command and holds no circle."""

import ast
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

PACKAGE = "mnist_norm"
DOC = os.path.join(ROOT, "docs", "architecture.md")


def _read(path):
    with open(path) as handle:
        return handle.read()


def _modules():
    """{module name relative to the package ("" for the package itself): its file}."""
    found = {}
    for path in sorted(glob.glob(os.path.join(ROOT, PACKAGE, "**", "*.py"), recursive=True)):
        parts = os.path.relpath(path, os.path.join(ROOT, PACKAGE))[:-3].split(os.sep)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _package_imports(name, path, modules):
    """The package modules `name` imports, anywhere in its file (relative or absolute imports)."""
    is_package = path.endswith("__init__.py")
    here = name.split(".") if name else []
    package = here if is_package else here[:-1]
    deps = set()
    for node in ast.walk(ast.parse(_read(path))):
        targets = []
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            module = [*base, *(node.module.split(".") if node.module else [])]
            targets = [".".join(module)] + [".".join([*module, alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            module = node.module.split(".")[1:]
            targets = [".".join(module)] + [".".join([*module, alias.name]) for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [".".join(a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == PACKAGE]
        deps.update(t for t in targets if t in modules and t not in ("", name))
    return deps


def _table(marker):
    """The rows of the marked table of docs/architecture.md: [[cell, ...], ...] without the header."""
    text = _read(DOC)
    block = re.search(rf"<!-- architecture:{marker} -->\n(.*?)\n<!-- /architecture:{marker} -->", text, re.S)
    assert block, f"docs/architecture.md has no {marker} table"
    rows = [line.strip().strip("|").split("|") for line in block.group(1).splitlines()[2:]]
    return [[cell.strip() for cell in row] for row in rows]


def _names(cell):
    return set(re.findall(r"`([\w.]+)`", cell))


def test_the_module_table_is_the_import_graph():
    modules = _modules()
    documented = {}
    for name, _, imports in _table("modules"):
        module = name.strip("`")
        assert module == PACKAGE or module.startswith(PACKAGE + "."), module
        documented[module[len(PACKAGE) + 1:]] = _names(imports)
    assert set(documented) == set(modules), "modules missing from or extra in docs/architecture.md"
    for name, path in modules.items():
        actual = _package_imports(name, path, modules)
        assert documented[name] == actual, f"{PACKAGE}.{name}: documented {sorted(documented[name])}, " \
                                          f"imports {sorted(actual)}"


def test_the_package_has_no_import_circle():
    modules = _modules()
    graph = {name: _package_imports(name, path, modules) for name, path in modules.items()}
    done, active = set(), []

    def visit(name):
        assert name not in active, "import circle: " + " -> ".join([*active[active.index(name):], name])
        if name in done:
            return
        active.append(name)
        for dep in sorted(graph[name]):
            visit(dep)
        active.pop()
        done.add(name)

    for name in graph:
        visit(name)


def _commands():
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "*.py")))


def test_commands_are_documented_and_import_only_the_package():
    commands = _commands()
    assert {row[0].strip("`")[:-3] for row in _table("commands")} == set(commands)
    for path in [*glob.glob(os.path.join(ROOT, "*.py")), *_modules().values()]:
        for node in ast.walk(ast.parse(_read(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for imported in names:
                assert imported.split(".")[0] not in commands, \
                    f"{os.path.relpath(path, ROOT)} imports the command {imported}"


def test_commands_call_what_the_table_says():
    modules = _modules()
    for name, _, calls in _table("commands"):
        path = os.path.join(ROOT, name.strip("`"))
        used = set()
        for node in ast.walk(ast.parse(_read(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
                module = node.module.split(".")[1:]
                for alias in node.names:
                    target = ".".join([*module, alias.name])
                    used.add(target if target in modules else ".".join(module))
        used.discard("quiet_tf")  # every command that loads TensorFlow starts it quietly: not what it calls
        assert used == _names(calls), f"{name}: calls {sorted(used)}, documented {sorted(_names(calls))}"


def test_importing_the_package_loads_nothing_heavy():
    code = ("import sys, mnist_norm, mnist_norm.report, mnist_norm.reading, mnist_norm.results; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_pip_install_adds_one_import_name_that_builds_and_loads_the_models(tmp_path):
    """`pip install .` puts one top-level name in site-packages; from another folder the package builds the five
    models and a model.keras that training wrote loads with keras.saving.load_model once the package is imported."""
    source, site = tmp_path / "source", tmp_path / "site"
    # From a copy of what the build reads: setuptools writes build/ and *.egg-info beside the sources.
    shutil.copytree(os.path.join(ROOT, PACKAGE), source / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(source)], check=True, capture_output=True, timeout=600)
    names = {name for name in os.listdir(site) if not name.endswith((".dist-info", ".egg-info"))}
    assert names == {PACKAGE}, names
    assert (site / PACKAGE / "draw.html").is_file() and (site / PACKAGE / "report" / "study.py").is_file()
    env = {**os.environ, "PYTHONPATH": str(site)}
    # A model.keras written by training with this Keras (the committed ones are Keras 3.15's, which 3.10 cannot read).
    saved = tmp_path / "model.keras"
    train = ("import numpy as np, keras\n"
             "from mnist_norm import network\n"
             "from mnist_norm import variants\n"
             "print(all(network.build_model(n).count_params() > 0 for n in variants.available()))\n"
             "model = network.build_model('gn')\n"
             "model.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
             "model.fit(np.zeros((8, 28, 28, 1), 'float32'), np.zeros(8, 'int32'), epochs=1, verbose=0)\n"
             f"model.save({str(saved)!r})\n")
    out = subprocess.run([sys.executable, "-c", train], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr[-2000:]
    code = ("import mnist_norm, keras, numpy as np\n"  # a fresh process: only the package's import registers the layers
            f"model = keras.saving.load_model({str(saved)!r})\n"
            "print(model.predict(np.zeros((1, 28, 28, 1), 'float32'), verbose=0).shape)\n"
            "print(sorted({m.split('.')[0] for m in __import__('sys').modules} & {'train', 'model', 'rundir'}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["(1, 10)", "[]"]
