"""The report: every marked block of README.md and docs/*.md rendered from the files real runs wrote under results/.

Each block lives between `<!-- report:NAME -->` and `<!-- /report:NAME -->` in one of those files; `BLOCKS` says
what each is rendered from and by which renderer (one module per study beside the shared formatting of fmt.py);
tests/test_readme.py checks that they still equal what this renders, so numbers are never typed by hand and cannot
drift from results/. Nothing here starts TensorFlow, except the architecture block, which builds the network when
it renders.
"""

import glob
import os
import re
from dataclasses import dataclass

from .. import ROOT
from .. import results
from .. import rundir
from .. import variants as variants_lib
from . import (after_gn, batch_size, deploy, digits, group_axis, instance, l1, learning_rate, reproduce, shift,
               speed, study)
from .fmt import _load

RESULTS = results.RESULTS


@dataclass(frozen=True)
class Block:
    """A marked block of README.md or docs/*.md: its name, the results it is rendered from (a study of
    results.STUDY_FOLDERS, another folder's summary, or a JSON file under results/), and its renderer, called with
    them in that order. A block whose inputs are missing (or hold no runs yet) is not rendered."""

    name: str
    inputs: tuple
    render: object
    when: object = None  # another condition on the inputs


def _input(name):
    found = _load(name) if name.endswith(".json") else results.load(name)
    if found is None or not (name.endswith(".json") or found.get("runs") or found.get("variants")
                             or found.get("models")):
        return None
    return found


def architecture():
    """The README's layer table: the only block that needs Keras, imported when it renders."""
    from .. import quiet_tf

    quiet_tf.start()  # TensorFlow's C++ start-up lines only with --debug
    from .. import network

    return network.markdown_table(network.build_model("gn"))


def _has(variant):
    """A block's condition: every one of its inputs holds runs of `variant`."""
    return lambda *inputs: all(variant in (found.get("variants") or results.present(found["runs"]))
                               for found in inputs)


BLOCKS = (
    Block("architecture", (), architecture),
    Block("demo", (), study.demo),
    *(Block(name, (folder,), study.findings) for folder, _, name in study.EARLIER),
    Block("findings", ("study",), study.findings),
    Block("control", ("study",), study.control, _has(variants_lib.CONTROL)),
    Block("comparison", ("study",), study.comparison_block),
    Block("headline", ("study",), study.headline_block),
    Block("timing", ("study",), study.timing_block),
    Block("benchmark", ("benchmark.json",), speed.benchmark),
    Block("readme_times", ("readme_times.json",), speed.readme_times),
    Block("after_gn_study", ("study",), after_gn.study_verdict, lambda s: bool(after_gn._present(s))),
    Block("after_gn_shift", ("after_gn/shift", "shift"), after_gn.shift_verdict),
    Block("after_gn_batch_size", ("batch_size",), after_gn.batch_size_verdict,
          lambda s: any(run["norm"] in ("brn", "gnws", "frn") for run in s["runs"])),
    Block("after_gn_deploy", ("after_gn/deploy",), after_gn.deploy_verdict),
    Block("after_gn_deploy_table", ("after_gn/deploy",), deploy.deploy_table),
    Block("after_gn_learning_rate", ("learning_rate",), after_gn.learning_rate_verdict,
          lambda s: any(run["norm"] in ("brn", "gnws", "frn", "rms") for run in s["runs"])),
    Block("batch_size", ("batch_size",), batch_size.batch_size),
    Block("batch_size_headline", ("batch_size",), batch_size.batch_size_headline),
    Block("shift", ("shift",), shift.shift_table),
    Block("shift_verdict", ("shift",), shift.shift_verdict),
    Block("learning_rate", ("learning_rate",), learning_rate.learning_rate_table),
    Block("learning_rate_verdict", ("learning_rate",), learning_rate.learning_rate_verdict),
    Block("l1", ("l1",), l1.l1_table),
    Block("l1_verdict", ("l1",), l1.l1_verdict),
    Block("buys_headline", ("study", "shift", "learning_rate"), study.buys_headline,
          lambda s, *_: variants_lib.CONTROL in s["variants"]),
    Block("instance_norm", ("study", "shift", "learning_rate", "batch_size", "deploy"), instance.instance_norm,
          _has(variants_lib.INSTANCE)),
    Block("deploy_table", ("deploy",), deploy.deploy_table),
    Block("deploy_ops", ("deploy",), deploy.deploy_ops),
    Block("int8_layers", ("deploy",), deploy.int8_layers),
    Block("deploy_verdict", ("deploy",), deploy.deploy_verdict),
    Block("photo_timing", (os.path.join("predict", "photo_timing.json"),), digits.photo_timing),
    Block("refusals", (rundir.summary_path("refusals"), rundir.summary_path("judge")), digits.refusals),
    Block("refusal_rules", (rundir.summary_path("refusals"),), digits.refusal_rules),
    Block("small_writing", (rundir.summary_path("refusals"),), digits.small_writing),
    Block("other_images", (rundir.summary_path("refusals"),), digits.other_images),
    Block("printed", (rundir.summary_path("refusals"),), digits.printed, lambda s: "printed" in s),
    Block("judge", (rundir.summary_path("judge"),), digits.judge_table),
    Block("doubt", (rundir.summary_path("refusals"),), digits.doubt_table),
    Block("page_answers", (os.path.join("draw", "page.json"),), digits.page_answers),
    Block("predict_number", (os.path.join("predict", "number.json"),), digits.predict_number),
    Block("in_invariance", ("shift",), instance.in_invariance, lambda s: "in_invariance" in s),
    Block("group_axis", ("group_axis",), group_axis.group_axis_table),
    Block("group_axis_verdict", ("group_axis",), group_axis.group_axis_verdict),
    Block("bn_test_time", (os.path.join("batch_size", "bn_test_time.json"),), batch_size.bn_test_time),
    Block("reproduce_plan", ("study",), reproduce.plan_table),
    Block("reproduce_spread", (os.path.join("reproduce", "spread.json"),), reproduce.spread),
    Block("reproduce_check", (os.path.join("reproduce", "check.json"),), reproduce.check_verdict),
    Block("reproduce_check_short", (os.path.join("reproduce", "check.json"),), reproduce.check_verdict_short),
)


def validation_blocks():
    """The recipe search's blocks: one table of every recipe's validation run, and one per benchmark.py run of
    the search (benchmark-candidates<-suffix>.json renders as candidate_speed<_suffix>)."""
    folder = os.path.join(RESULTS, "validation")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    summaries = {name: results.load(os.path.join("validation", name)) for name in names}
    rendered = {}
    if any(summaries.values()):
        rendered["validation"] = speed.validation({name: found for name, found in summaries.items() if found})
    for name in names:
        match = re.fullmatch(r"benchmark-candidates((?:-[\w]+)*)\.json", name)
        searched = _load(os.path.join("validation", name)) if match else None
        if searched:
            rendered["candidate_speed" + match[1].replace("-", "_")] = "\n".join(
                [speed.benchmark_setting(searched), "", *speed.candidates(searched)])
    return rendered


def blocks():
    """{block name: rendered Markdown}: every block of BLOCKS whose inputs exist, and the recipe search's."""
    rendered = {}
    for block in BLOCKS:
        inputs = [_input(name) for name in block.inputs]
        if all(found is not None for found in inputs) and (block.when is None or block.when(*inputs)):
            rendered[block.name] = block.render(*inputs)
    rendered.update(validation_blocks())
    return rendered


def documents():
    """The Markdown files whose marked blocks report.py renders: README.md and docs/*.md."""
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def block_pattern(name):
    return re.compile(rf"(<!-- report:{name} -->\n)(.*?)(\n?<!-- /report:{name} -->)", re.S)


def update(text, rendered):
    """Rewrites every marked block of `text` that can be rendered; returns (text, names of the others)."""
    missing = []
    for name in re.findall(r"<!-- report:(\w+) -->", text):
        if name not in rendered:
            missing.append(name)
            continue
        closing = f"\n<!-- /report:{name} -->"
        text = block_pattern(name).sub(lambda m, body=rendered[name] + closing: m.group(1) + body, text)
    return text, missing


def render_documents():
    """Rewrites the marked blocks of README.md and docs/*.md from results/ (a file whose text is unchanged is left
    alone); returns the blocks that have no results file to render from, as "path: block"."""
    from .. import rundir

    rendered, missing = blocks(), []
    for path in documents():
        with open(path) as handle:
            text, unrendered = update(handle.read(), rendered)
        rundir.write_text(path, text)
        missing += [f"{os.path.relpath(path, ROOT)}: {name}" for name in unrendered]
    return missing
