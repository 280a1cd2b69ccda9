"""The sandbox: where student code runs, and what it can and cannot reach.

Modules, one job each:

- :mod:`~grader.sandbox.policy`: which isolation a run gets, and the record of what held
- :mod:`~grader.sandbox.client`: the trusted side's handle on one worker (start, call, kill)
- :mod:`~grader.sandbox.bwrap`: the bubblewrap command, every argument with its reason
- :mod:`~grader.sandbox.identity`: the worker's own uid (as root)
- :mod:`~grader.sandbox.cgroups`: the worker's control group (v1 or v2)
- :mod:`~grader.sandbox.workdir`: the worker's private folder
- :mod:`~grader.sandbox.limits`: the limits and their defaults
- :mod:`~grader.sandbox.processes`: rlimits, and killing every process a worker started

This package's ``__init__`` imports nothing: the fallback's keeper imports
:mod:`~grader.sandbox.processes` alone.
"""
