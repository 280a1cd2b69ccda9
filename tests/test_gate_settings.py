"""The gate's settings: resolved once from the course and ``--gate-set``, typed, and handed
to the suite unchanged (through the batch's plan and pytest's stash, never a command line)."""

from __future__ import annotations

import io

import pytest

from grader import cli
from grader.batch import executors, run
from grader.batch.outcome import Outcome
from grader.course import config
from grader.course.recipes import RECIPES, GateSettings
from grader.grading import plan as planning
from grader.grading.plan import Plan
from grader.grading.suite_runner import Collector, Seat
from grader.kit import EXERCISES


def _planned(monkeypatch, *gate_set: str) -> Plan:
    """The plan ``grader run --reference --exercises ex5 --gate-set ...`` hands the batch
    (nothing graded: data, the reference's cost and the batch are stand-ins)."""
    seen = []
    monkeypatch.setattr(planning, "gate_data", lambda root, stderr: root)
    monkeypatch.setattr(planning, "gate_reference", lambda *a: {"wall_s": 10.0, "cpu_s": 0.1})
    monkeypatch.setattr(planning, "choose_isolation", lambda *a: "bwrap")
    monkeypatch.setattr(
        executors, "grade_all", lambda subs, plan, **kw: seen.append(plan) or Outcome()
    )
    flags = [word for pair in gate_set for word in ("--gate-set", pair)]
    overrides = cli.build_parser().parse_args(["run", *flags]).gate_overrides
    run.run(
        reference=True,
        device="cpu",
        exercises="ex5",
        gate_overrides=overrides,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    (plan,) = seen
    return plan


def test_gate_set_values_are_parsed_by_the_recipes_types(monkeypatch):
    """Does ``--gate-set nesterov=false`` reach the suite as False (not bool("false")), and
    ``epochs=2`` as the int 2, over the course's threshold and time factor?"""
    plan = _planned(monkeypatch, "nesterov=true", "nesterov=false", "epochs=2", "lr=0.1")
    settings = plan.gate
    assert settings.recipe["nesterov"] is False
    assert _planned(monkeypatch, "nesterov=true").gate.recipe["nesterov"] is True
    assert settings.recipe["epochs"] == 2 and type(settings.recipe["epochs"]) is int
    course = config.defaults().devices["cpu"]
    assert settings.threshold == course.threshold
    assert settings.recipe["time_factor"] == course.time_factor
    assert settings.reference == {"wall_s": 10.0, "cpu_s": 0.1}


def test_a_bad_gate_set_value_names_its_source(capsys):
    """Does ``--gate-set epochs=abc`` stop the command with "Invalid epochs 'abc' from
    --gate-set" (not a bare int() message)?"""
    code = cli.main(["run", "--reference", "--no-gate", "--gate-set", "epochs=abc"])
    assert code == 2
    assert "Invalid epochs 'abc' from --gate-set: expected int" in capsys.readouterr().err


def test_the_settings_cross_the_batch_bit_for_bit(monkeypatch):
    """Does a batch child read back exactly the settings the parent resolved (floats whose
    shortest text is long included)?"""
    plan = _planned(monkeypatch, "lr=0.30000000000000004", "threshold=0.1")
    again = Plan.from_json(plan.to_json())
    assert again == plan and isinstance(again.gate, GateSettings)
    assert again.gate.recipe["lr"] == 0.1 + 0.2


def test_no_gate_means_no_settings(monkeypatch):
    """Is the gate left out of the plan (``None``) for a run without ex5?"""
    monkeypatch.setattr(planning, "choose_isolation", lambda *a: "bwrap")
    seen = []
    monkeypatch.setattr(executors, "grade_all", lambda s, plan, **k: seen.append(plan) or Outcome())
    run.run(reference=True, exercises="ex1", stdout=io.StringIO(), stderr=io.StringIO())
    assert seen[0].gate is None
    assert Plan.from_json(seen[0].to_json()).gate is None


def test_a_suite_reads_the_settings_from_the_stash(tmp_path):
    """Does a suite's ``plan`` (pytest's stash, filled by the runner's plugin) hold the very
    settings the runner was given?"""
    settings = GateSettings({**RECIPES["cpu"], "nesterov": False}, {"wall_s": 3.0})
    plan = Plan(("ex5",), device="cpu", gate=settings, probe_timeout_s=7.5)
    suite = tmp_path / "test_stash.py"
    suite.write_text(
        "from grader.grading.suite_runner import PLAN, SUBMISSION\n"
        "def test_it(request):\n"
        "    plan = request.config.stash[PLAN]\n"
        "    assert plan.gate.recipe['nesterov'] is False\n"
        "    assert plan.gate.reference == {'wall_s': 3.0}\n"
        "    assert plan.probe_timeout_s == 7.5\n"
        f"    assert str(request.config.stash[SUBMISSION]) == {str(tmp_path)!r}\n"
    )
    collector = Collector(EXERCISES["ex5"].key, tmp_path, plan, Seat())
    code = pytest.main([str(suite), "-q", "-p", "no:cacheprovider"], plugins=[collector])
    assert code == 0
    assert [t.status for t in collector.results] == ["passed"]
