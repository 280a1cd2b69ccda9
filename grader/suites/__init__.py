"""The hidden suites: pytest files run in the trusted process, one per exercise.

Each test calls probes (:mod:`grader.inside.probes`) in the exercise's worker through the
``probe`` fixture (``conftest.py``) and checks the data that comes back with
:mod:`grader.suites.assertions`. Points are ``@pytest.mark.points(n)``.
"""
