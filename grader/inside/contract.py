"""The names the trusted side and the worker agree on: environment variables, message keys.

Both sides import this module (it lies in ``grader/inside/``, which every worker gets), so a
name is spelled once. The wire format
itself (JSON, arrays as ``.npy``) is :mod:`grader.inside.channel`.
"""

from __future__ import annotations

# Environment of the worker, set by grader.sandbox.launch (and the keeper).
SUBMISSION_ENV = "GRADER_SUBMISSION"
"""The folder of the staged exercise files (``/submission`` under bubblewrap)."""
TRAIN_DATA_ENV = "GRADER_TRAIN_DATA"
"""For the gate: the folder of the training split and the labels the trusted side chose."""
DEVICE_ENV = "GRADER_DEVICE"
"""``cpu`` or ``cuda``."""
RESPONSE_FD_ENV = "GRADER_RESPONSE_FD"
"""The file descriptor of the private pipe the worker answers on (never stdout)."""
WORKER_UID_ENV = "GRADER_WORKER_UID"
WORKER_GID_ENV = "GRADER_WORKER_GID"
"""Without bubblewrap: the uid and gid the keeper starts the worker as."""
CONTROL_FD_ENV = "GRADER_CONTROL_FD"
"""The fork server's socket to the trusted side (grader.inside.zygote)."""
FORKSERVER_SANDBOXED_ENV = "GRADER_SANDBOXED"
"""``1`` under bubblewrap: /tmp and /dev/shm are the sandbox's own, emptied between workers."""
PRELOAD_ENV = "GRADER_PRELOAD"
"""The exercises a fork server's workers will grade (``,`` between them): what it imports."""
PRIVATE_FOLDERS_ENV = "GRADER_PRIVATE_FOLDERS"
"""Without bubblewrap, the shared folders the sandbox's mount namespace made its own (``:``
between them), emptied between workers like its home."""

# A request: {"id": ..., "probe": "ex1.sse_grads", "args": {...}}, and "standins": the
# names of the submission ("ex1_gradients.predict", "ex4_net.Net.__init__") the worker puts
# the grader's stand-ins in place of for that call (grader.inside.probes.standins).
REQUEST_ID, REQUEST_PROBE, REQUEST_ARGS = "id", "probe", "args"
REQUEST_STANDINS = "standins"

# During a call, a stand-in that asks the trusted side: {"id": ..., "oracle": "ex1_gradients.
# predict", "args": [[...], {...}]} on the reply channel; the answer comes on the request
# channel as {"oracle_reply": ...} or {"oracle_error": "TypeError: ..."}.
ORACLE, ORACLE_ARGS, ORACLE_REPLY, ORACLE_ERROR = "oracle", "args", "oracle_reply", "oracle_error"
# An array argument may travel as {"slot": "1", "value": ...}, kept by the trusted side for
# the rest of the call, and then as {"slot": "1"} while it is the same (x, y of a fit's
# thousands of steps are sent once).
ORACLE_SLOT, ORACLE_VALUE = "slot", "value"
MAX_ORACLE_SLOTS = 32

# The first message of a worker: {"ready": true, "pid": ...}, and "device" saying why the
# device it was started for is out of its reach (cuda it cannot see), before any student code.
READY, READY_PID, READY_DEVICE = "ready", "pid", "device"

# A reply: {"id": ..., "ok": true, "value": ...} or
# {"id": ..., "ok": false, "kind": ..., "type": ..., "message": ..., "where": ...}.
REPLY_ID, REPLY_OK, REPLY_VALUE = "id", "ok", "value"
REPLY_KIND, REPLY_TYPE, REPLY_MESSAGE, REPLY_WHERE = "kind", "type", "message", "where"

KIND_STUDENT = "exception"
"""The student's code raised (or exited): the test fails."""
KIND_GRADER = "grader"
"""The grader's own side failed (no such probe, a call its probe does not take): ``error``."""
KIND_BAD_RETURN = "bad_return"
"""The probe's value is not plain data the channel can carry: the test fails."""

# The fork server's requests ({"op": ...}, with descriptors for "spawn") and replies.
FORK_OP, FORK_SPAWN, FORK_REAP, FORK_RESET = "op", "spawn", "reap", "reset"
FORK_STATUS, FORK_LEFT, FORK_ERROR = "status", "left", "error"


# A message the grader's code inside the worker has the trusted side word, in the run's
# language: {"words": KEY, "values": {...}} in place of its text, KEY one of WORDS. The worker
# never translates (it imports nothing of the grader outside this folder, the catalogs
# among them); the trusted side fills the template it holds, never one the worker sent.
WORDS_KEY, WORDS_VALUES = "words", "values"


def N_(message: str) -> str:
    """Mark ``message`` for the grader's catalog (``grader/locale``): it is translated on the
    trusted side, where it is worded."""
    return message


WORDS = {
    "exit": N_("the code called sys.exit({code})"),
    "module_rule": N_(
        "{error}: the submission's modules are its exercise files and the other .py files "
        "beside them (folders are not staged); anything else must be a package the course "
        "installs"
    ),
    "standin_refused": N_(
        "the grader's {name}, standing in for yours (which failed its own test), could not "
        "take these arguments: {error}"
    ),
    "transform_shape": N_("the transform gave shape {shape}, not (3, 32, 32)"),
    "transform_uneven": N_("the eval transform changes a constant image's pixels differently"),
    "transform_flat": N_("the eval transform maps black and white to the same value"),
    "transform_not_affine": N_("the eval transform is not ToTensor then a per-channel Normalize"),
    "eval_transform_failed": N_("the eval transform failed: {error}"),
    "train_transform_failed": N_("the train transform failed: {error}"),
    "file_too_large": N_("a file over {mib} MiB"),
    "too_large_to_compare": N_("{what} too large to compare"),
}
"""What the worker's own code may say to a student, by key (see WORDS_KEY)."""


def words(key: str, **values) -> dict:
    """What the worker sends in place of the message ``WORDS[key]`` filled with ``values``."""
    return {WORDS_KEY: key, WORDS_VALUES: values}
