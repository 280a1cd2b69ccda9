"""The course configuration: [tool.grader] or grader.toml, defaults in one place."""

import pytest
from conftest import grader, json_results

from grader.course import config as course_config
from grader.kit import EXERCISES


def test_no_file_means_the_defaults(tmp_path):
    """Without a config file, are SPEC's points and the calibrated gate limits used?"""
    config = course_config.load(search=tmp_path)
    assert config == course_config.defaults()
    assert sum(config.points.values()) == 100
    assert config.points == {k: e.points for k, e in EXERCISES.items()}


def test_pyproject_tool_grader_is_read(tmp_path):
    """Is [tool.grader] of a pyproject found and read, on top of the defaults?"""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.grader]\nvisibility = "hidden"\n'
        "[tool.grader.exercises.ex1]\npoints = 10\n[tool.grader.devices.cpu]\nthreshold = 0.5\n"
    )
    config = course_config.load(search=tmp_path)
    assert config.points["ex1"] == 10 and config.points["ex2"] == 20
    assert config.visibility_of("ex2", "test_x") == "hidden"
    assert config.gate_overrides("cpu")["threshold"] == 0.5
    assert config.devices["cuda"] == course_config.defaults().devices["cuda"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[exercises.ex9]\npoints = 3\n", "exercises.ex9"),
        ("[exercises.ex1]\npoints = -1\n", "exercises.ex1.points"),
        ("[exercises.ex1]\npoint = 3\n", "exercises.ex1.point"),
        ('visibility = "secret"\n', "visibility"),
        ("[devices.cpu]\nthreshold = 58\n", "devices.cpu.threshold"),
        ("[devices.tpu]\nthreshold = 0.5\n", "devices.tpu"),
        ('[tests.test_x]\nvisibility = "after_publish"\n', "tests.test_x.visibility"),
        ("grading_deadline_s = 0\n", "grading_deadline_s"),
        ('grading_deadline_s = "1h"\n', "grading_deadline_s"),
    ],
)
def test_bad_key_or_value_names_key_and_file(tmp_path, text, key):
    """Does each bad key or value fail with the key and the file in the message?"""
    path = tmp_path / "grader.toml"
    path.write_text(text)
    with pytest.raises(course_config.CourseConfigError) as caught:
        course_config.load(path)
    assert str(path) in str(caught.value) and f": {key}:" in str(caught.value)


def test_cli_applies_points_and_visibility_and_rejects_bad_files(make_submission, tmp_path):
    """Does `grader run --config` scale ex1 to its points and set visibility; a bad file exit 2?"""
    config = tmp_path / "grader.toml"
    config.write_text(
        '[exercises.ex1]\npoints = 10\nvisibility = "after_due_date"\n'
        '[tests.test_sse_loss_is_sum_of_squares]\nvisibility = "hidden"\n'
    )
    completed = grader(
        "run", make_submission("amy"), "--exercises", "ex1", "--format", "json", "--config", config
    )
    (result,) = json_results(completed)
    assert result["score"] == result["max_score"] == 10
    visibility = {t["name"]: t["visibility"] for t in result["tests"]}
    assert visibility.pop("test_sse_loss_is_sum_of_squares") == "hidden"
    assert set(visibility.values()) == {"after_due_date"}
    config.write_text("[exercises.ex1]\npoints = 'ten'\n")
    bad = grader("run", "--reference", "--exercises", "ex1", "--config", config)
    assert (
        bad.returncode == 2 and "exercises.ex1.points" in bad.stderr and str(config) in bad.stderr
    )


def test_a_grading_deadline_is_read(tmp_path):
    """Is grading_deadline_s read (and absent, left to the default computed per run)?"""
    path = tmp_path / "grader.toml"
    path.write_text("grading_deadline_s = 1800\n")
    assert course_config.load(path).grading_deadline_s == 1800
    assert course_config.defaults().grading_deadline_s is None


@pytest.mark.parametrize(
    ("text", "word"),
    [("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"), ("#" * 2**21, "larger")],
)
def test_a_pathological_file_is_a_clear_error(tmp_path, text, word):
    """Are arrays nested 100,000 deep (tomllib recurses) and a 2 MiB file each a configuration
    error naming the file, not a crash or a long read?"""
    path = tmp_path / "grader.toml"
    path.write_text(text)
    with pytest.raises(course_config.CourseConfigError, match=word) as caught:
        course_config.load(path)
    assert str(path) in str(caught.value)
