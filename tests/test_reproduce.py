"""reproduce.py: the whole study's plan from the committed summaries, run serially or on Ray (two nodes, a killed
worker), and its one-line errors."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from mnist_norm import cluster
from mnist_norm import plan as plan_lib
from mnist_norm import rundir
from mnist_norm import studies

import reproduce as reproduce_command
import sweep as sweep_command

from conftest import RESULTS, ROOT  # noqa: E402


@pytest.fixture(scope="module")
def committed_plan():
    return plan_lib.whole_plan(RESULTS)


def test_the_plan_remakes_every_committed_run_from_the_summaries_alone(committed_plan):
    runs = committed_plan.runs()
    assert len({run.run_dir for run in runs}) == len(runs)  # a run the group axis reuses is planned once
    for run in runs:
        stored = rundir.read_json(rundir.file(run.committed_dir, "config"))
        assert run.config.record(run.source) == stored, run.committed_dir
        assert run.finished(), run.committed_dir  # in results/ itself: nothing to train
    # Every committed run folder is planned, or lies in a study the plan names as left out, with why.
    planned = {os.path.abspath(run.committed_dir) for run in runs}
    left_out = [os.path.abspath(folder) for folder, why in committed_plan.left_out if why]
    for folder, _, files in os.walk(RESULTS):
        if rundir.FILES["config"] in files and rundir.FILES["history"] in files:
            folder = os.path.abspath(folder)
            assert folder in planned or any(folder.startswith(out + os.sep) for out in left_out), folder
    names = [study.name for study in committed_plan.studies]
    assert names[0] == plan_lib.MAIN_STUDY and {"batch-size", "learning-rate", "l1", "group-axis"} <= set(names)
    assert [step.kind for step in committed_plan.steps][-1] == "deploy"  # the timed step after every other


def test_a_sweep_plan_from_its_summary_equals_the_sweep_command_s(committed_plan):
    for study in (s for s in committed_plan.studies if s.kind == "sweep" and s.name in studies.STUDIES):
        summary = rundir.read_summary(study.folder)
        command = sweep_command.parse_args([study.name, "--output-dir", study.folder])
        from_summary = studies.plan_from_settings(summary["settings"], output_dir=study.folder)
        assert [(p.run_dir, p.config) for p in from_summary.points] == [(p.run_dir, p.config) for p in command.points]
        assert from_summary.settings() == {k: v for k, v in summary["settings"].items() if k in studies.PLAN_KEYS}


def test_another_output_folder_gets_every_run_and_reuses_what_it_plans(committed_plan, tmp_path):
    plan = plan_lib.whole_plan(committed_plan.root, str(tmp_path))
    runs = plan.runs()
    from mnist_norm import variants

    # every committed run but those of a variant this Keras cannot build (left out, with why)
    assert len(runs) == len([run for run in committed_plan.runs() if not variants.missing_keras(run.config.norm)])
    assert all(run.run_dir.startswith(str(tmp_path) + os.sep) and not run.finished() for run in runs)
    axis = next(study for study in plan.studies if study.name == "group-axis")
    # its plain LN, GN and IN points are the 20-epoch study's runs in the new folder, not trained twice
    reused = [p.run_dir for p in axis.sweep.points if not p.setting]
    assert reused and all(path in {run.run_dir for run in runs if run.study == plan_lib.MAIN_STUDY} for path in reused)


def test_config_from_record_refuses_a_record_it_cannot_make():
    record = rundir.read_json(os.path.join(RESULTS, "bn", "seed-1", "config.json"))
    assert plan_lib.config_from_record(record, "results").record(record["data"]) == record
    with pytest.raises(plan_lib.PlanError, match="no configuration makes the record"):
        plan_lib.config_from_record({**record, "l1": None}, "results")  # BN's L1 cannot be absent
    with pytest.raises(plan_lib.Unplannable, match="does not name its architecture"):
        plan_lib.config_from_record({k: v for k, v in record.items() if k != "architecture"}, "results")


def test_dry_run_prints_the_plan_and_an_unknown_study_is_one_line(capsys):
    assert reproduce_command.main(["--dry-run", "--studies", "l1", "20-epoch"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["study", "runs", "finished", "hours", "when", "committed"]
    assert "l1" in out and "then shift: shift" in out and "not in the plan: results/course-network" in out
    for argv, message in ((["--studies", "nope"], "--studies 'nope': expected one of 20-epoch"),
                          (["--workers", "0"], "--workers must be >= 1; received 0"),
                          (["--workers", "2", "--address", "auto"], "give one"),
                          (["--threads", "two"], "--threads must be a whole number >= 1 or made; received 'two'"),
                          (["--threads", "made", "--workers", "1"], "--threads made is for --check"),
                          (["--check", "--threads", "made"], "--threads made needs --workers or --address")):
        with pytest.raises(SystemExit) as exit_info:
            reproduce_command.parse_args(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert message in err[-1]


def test_without_ray_workers_say_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(SystemExit) as exit_info:
        reproduce_command.parse_args(["--workers", "2", "--studies", "l1"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "reproduce.py: error: --workers and --address need Ray, an optional extra: pip install '.[cluster]'")


def test_the_check_compares_every_column_but_the_timings():
    from mnist_norm import reproduce

    rows = [{"epoch": "1", "loss": "0.5", "accuracy": "0.9", "epoch_seconds": "3.0"},
            {"epoch": "2", "loss": "0.25", "accuracy": "0.95", "epoch_seconds": "2.0"}]
    slower = [dict(row, epoch_seconds="9.0") for row in rows]
    assert reproduce._compare(rows, slower, 2) == (0.0, "")
    moved = [rows[0], dict(rows[1], accuracy="0.9525")]
    largest, where = reproduce._compare(rows, moved, 2)
    assert largest == pytest.approx(0.0025) and where == "accuracy, epoch 2"
    assert reproduce._compare(rows[:1], rows, 2)[0] is None
    here = {"processor": "cpu", "threads": 1}
    verdict = reproduce.verdict([
        {"run": "a", "equal": True, "largest_difference": 0.0, "where": "", "made_on": here, "checked_on": here},
        {"run": "b", "equal": False, "largest_difference": 0.01, "where": "loss, epoch 1",
         "made_on": {"processor": "other", "threads": 2}, "checked_on": here}])
    assert (verdict["equal"], verdict["not_reproduced"], verdict["elsewhere_differ"]) == (1, 0, 1)


def test_a_check_of_some_studies_keeps_the_other_studies_rows(tmp_path):
    from mnist_norm import reproduce

    here = {"processor": "cpu", "threads": 1}

    def row(study, run, equal):
        return {"study": study, "run": run, "equal": equal, "largest_difference": 0.0 if equal else 0.5,
                "where": "" if equal else "loss, epoch 1", "made_on": here, "checked_on": here}

    reproduce.write_check([row("a", "a/1", True), row("b", "b/1", True)], str(tmp_path), ["a", "b"])
    verdict = reproduce.write_check([row("b", "b/1", False), row("c", "c/1", True)], str(tmp_path), ["b", "c"])
    written = rundir.read_json(str(tmp_path / "check.json"))
    assert written["studies"] == ["a", "b", "c"]
    assert [(r["run"], r["equal"]) for r in written["runs"]] == [("a/1", True), ("b/1", False), ("c/1", True)]
    assert (verdict["equal"], verdict["not_reproduced"]) == (2, 1)


def test_made_threads_are_the_recorded_ones_or_tensorflow_s_default(committed_plan):
    from mnist_norm import reproduce

    runs = {run.committed_dir: run for run in committed_plan.runs()}
    recorded = runs[os.path.join(RESULTS, "batch_size", "frn", "bs-2", "seed-1")]
    assert rundir.read_json(rundir.file(recorded.committed_dir, "result"))["environment"]["machine"]["threads"] == 1
    assert reproduce.threads_made_on(reproduce._made_on(recorded)) == 1
    unrecorded = runs[os.path.join(RESULTS, "bn", "seed-1")]  # made before result.json named its machine
    assert reproduce.threads_made_on(reproduce._made_on(unrecorded)) == len(os.sched_getaffinity(0))


# ----------------------------------------------------------------------------- a tiny study, run for real


def _history(path):
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(handle)]


def _tiny_study(folder, mnist_dir, epochs=1):
    """A committed study in miniature: a train.py folder (GN, 2 seeds) and a sweep beside it."""
    common = ["--epochs", str(epochs), "--data-dir", mnist_dir, "--verbose", "0"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    for argv in (["train.py", "--norm", "gn", "--seeds", "1", "2", "--output-dir", folder],
                 ["sweep.py", "grid", "--vary", "dropout", "0", "0.1", "--norm", "ln", "--seeds", "1",
                  "--output-dir", os.path.join(folder, "dropout")]):
        subprocess.run([sys.executable, *argv, *common], cwd=ROOT, env=env, check=True, capture_output=True)


def _same_runs(plan_a, plan_b):
    for run_a, run_b in zip(plan_a.runs(), plan_b.runs(), strict=True):
        assert _history(rundir.file(run_a.run_dir, "history")) == _history(rundir.file(run_b.run_dir, "history"))
        assert rundir.read_json(rundir.file(run_a.run_dir, "config")) == \
            rundir.read_json(rundir.file(run_b.run_dir, "config"))
        result_a, result_b = (rundir.read_json(rundir.file(r.run_dir, "result")) for r in (run_a, run_b))
        assert (result_a["final_accuracy"], result_a["misclassified"]) == \
            (result_b["final_accuracy"], result_b["misclassified"])


@pytest.fixture(scope="module")
def ray_cluster():
    """Two Ray nodes of one CPU each on this machine (Ray's own test cluster)."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.mark.slow
def test_two_ray_nodes_make_the_files_a_serial_run_makes_and_a_rerun_finds_nothing(mnist_dir, tmp_path,
                                                                                  ray_cluster, capsys):
    from mnist_norm import reproduce

    committed = str(tmp_path / "results")
    _tiny_study(committed, mnist_dir)
    serial = plan_lib.whole_plan(committed, str(tmp_path / "serial"))
    on_ray = plan_lib.whole_plan(committed, str(tmp_path / "ray"))
    assert len(serial.runs()) == 4
    # One thread a run both ways: the threads a run computes on are part of what it gives.
    subprocess.run([sys.executable, "-c", "import reproduce, sys; sys.exit(reproduce.main(sys.argv[1:]))",
                    "--results", committed, "--output-dir", serial.output_dir, "--threads", "1"],
                   cwd=ROOT, check=True, capture_output=True)
    trained = reproduce.run(on_ray, address=ray_cluster.address, threads=1)
    assert len(trained) == 4
    out = capsys.readouterr().out
    assert "4 of 4 runs to train, on Ray (--address" in out and "(1 thread)" in out
    _same_runs(serial, on_ray)
    assert json.loads((tmp_path / "ray" / "summary.json").read_text())["variants"]["gn"]["final_accuracy_mean"] == \
        json.loads((tmp_path / "serial" / "summary.json").read_text())["variants"]["gn"]["final_accuracy_mean"]
    # Every run records the machine and threads it ran on.
    for run in on_ray.runs():
        assert rundir.read_json(rundir.file(run.run_dir, "result"))["environment"]["machine"]["threads"] == 1
    stamps = {path: os.stat(path).st_mtime_ns for path in (str(p) for p in (tmp_path / "ray").rglob("*"))
              if os.path.isfile(path)}
    assert reproduce.run(plan_lib.whole_plan(committed, str(tmp_path / "ray")), address=ray_cluster.address) == []
    assert "0 of 4 runs to train" in capsys.readouterr().out
    assert {path: os.stat(path).st_mtime_ns for path in stamps} == stamps  # nothing rewritten
    # --check --threads made on the serial runs (made at one thread): each rerun on one thread gives them again.
    rows = reproduce.check(plan_lib.whole_plan(serial.output_dir), address=ray_cluster.address,
                           threads=reproduce.MADE, epochs=1)
    assert len(rows) == 3 and all(row["equal"] and reproduce.judged(row) for row in rows), rows  # seed 1's
    # A run needing more threads than any node has CPUs is refused, not left waiting for ever.
    with pytest.raises(cluster.ClusterError, match="a run needs 2 CPUs .its threads. and the largest node has 1"):
        reproduce.train_on_ray(serial.runs()[:1], address=ray_cluster.address, threads=[2])


def _task_pids(ray_cluster):
    """Process ids of this cluster's Ray workers running a task of ours (Ray names a busy worker's process after its
    task; a worker is its node's raylet's child), not those of another Ray on the machine."""
    raylets = {info.process.pid for node in ray_cluster.list_all_nodes()
               for info in node.all_processes.get("raylet", [])}
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                busy = handle.read().startswith(b"ray::_task")
            with open(f"/proc/{pid}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if busy and parent in raylets:
            pids.append(int(pid))
    return pids


@pytest.mark.slow
def test_a_killed_worker_loses_only_the_epoch_in_flight(mnist_dir, tmp_path, ray_cluster):
    from mnist_norm import reproduce

    committed = str(tmp_path / "results")
    _tiny_study(committed, mnist_dir, epochs=3)
    plan = plan_lib.whole_plan(committed, str(tmp_path / "ray")).select([plan_lib.MAIN_STUDY])
    serial = plan_lib.whole_plan(committed, str(tmp_path / "serial")).select([plan_lib.MAIN_STUDY])
    subprocess.run([sys.executable, "-c", "import reproduce, sys; sys.exit(reproduce.main(sys.argv[1:]))",
                    "--results", committed, "--output-dir", serial.output_dir, "--threads", "1",
                    "--studies", plan_lib.MAIN_STUDY], cwd=ROOT, check=True, capture_output=True)
    killed = []

    def kill_after_first_epoch():
        history = rundir.file(plan.runs()[0].run_dir, "history")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            backup = rundir.file(plan.runs()[0].run_dir, "backup")
            if os.path.exists(history) and len(rundir.read_history(history)) == 1 and os.path.isdir(backup):
                for pid in _task_pids(ray_cluster):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_after_first_epoch, daemon=True)
    watcher.start()
    reproduce.run(plan, address=ray_cluster.address, threads=1)
    watcher.join(timeout=1)
    assert killed, "no worker was running a task after the first epoch"
    _same_runs(serial, plan)  # retried by Ray, resumed from the backup: the same three epochs


@pytest.mark.slow
def test_an_address_with_no_cluster_is_one_line():
    pytest.importorskip("ray")
    result = subprocess.run([sys.executable, "reproduce.py", "--address", "127.0.0.1:9", "--studies", "l1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("reproduce.py: error:")]
    assert len(lines) == 1 and "--address 127.0.0.1:9" in lines[0], result.stderr[-2000:]


def test_a_variant_this_keras_cannot_build_is_left_out_unless_its_runs_are_finished(monkeypatch, tmp_path, capsys):
    from mnist_norm import variants

    real = variants.missing_keras
    monkeypatch.setattr(variants, "missing_keras", lambda norm: "needs a newer Keras" if norm == "brn" else real(norm))
    committed = sweep_command.parse_args(["batch-size", "--output-dir", os.path.join(RESULTS, "batch_size")])
    assert "brn" in {p.norm for p in committed.points} and not committed.left_out  # finished: read, not built
    fresh = sweep_command.parse_args(["batch-size", "--output-dir", str(tmp_path)])
    assert "brn" not in {p.norm for p in fresh.points} and "gnws" in {p.norm for p in fresh.points}
    assert "notice: brn left out of this sweep: needs a newer Keras" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        sweep_command.parse_args(["batch-size", "--norm", "brn", "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2 and "--norm brn: needs a newer Keras" in capsys.readouterr().err
    plan = plan_lib.whole_plan(RESULTS, str(tmp_path / "again"))
    assert not [run for run in plan.runs() if run.config.norm == "brn"]
    assert any("brn" in why for _, why in plan.left_out)
