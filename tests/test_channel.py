"""The worker-to-grader channel carries data only and never unpickles."""

import base64
import io
import pickle

import numpy as np
import pytest
import torch

from grader.inside import channel


def test_round_trip_of_plain_data_arrays_and_tensors():
    """Do nested plain data, arrays and tensors come back equal (tensors tagged)?"""
    message = {
        "n": 3,
        "x": 1.5,
        "s": "text",
        "flag": True,
        "none": None,
        "list": [1, [2.0, "three"]],
        "array": np.arange(6, dtype=np.int64).reshape(2, 3),
        "tensor": torch.linspace(0, 1, 5, dtype=torch.float64),
    }
    back = channel.loads(channel.dumps(message))
    assert back["list"] == [1, [2.0, "three"]] and back["none"] is None
    np.testing.assert_array_equal(back["array"], message["array"])
    assert isinstance(back["tensor"], channel.Tensor) and back["tensor"].torch_dtype == "float64"
    np.testing.assert_array_equal(back["tensor"], message["tensor"].numpy())


def test_objects_do_not_cross():
    """Are arbitrary objects and object arrays refused instead of pickled?"""
    with pytest.raises(channel.ChannelError):
        channel.dumps({"value": object()})
    with pytest.raises(channel.ChannelError):
        channel.dumps({"value": np.array([object()])})


class Payload:
    def __reduce__(self):
        return (open, ("/tmp/never-created-by-the-channel", "w"))


def test_pickled_array_payload_is_rejected(tmp_path):
    """Is an .npy holding a pickle (an object array) refused without running it?"""
    marker = tmp_path / "marker"
    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload()], dtype=object), allow_pickle=True)
    forged = {channel.ARRAY_TAG: base64.b64encode(buffer.getvalue()).decode()}
    line = (__import__("json").dumps({"value": forged}) + "\n").encode()
    with pytest.raises(channel.ChannelError):
        channel.loads(line)
    assert not marker.exists()
    raw_pickle = base64.b64encode(pickle.dumps(Payload())).decode()
    with pytest.raises(channel.ChannelError):
        channel.loads(f'{{"value": {{"{channel.ARRAY_TAG}": "{raw_pickle}"}}}}\n'.encode())


def test_malformed_and_oversized_messages():
    """Are non-JSON and oversized lines refused with a ChannelError?"""
    with pytest.raises(channel.ChannelError):
        channel.loads(b"not json\n")
    with pytest.raises(channel.ChannelError):
        channel.loads(b" " * (channel.MAX_MESSAGE_BYTES + 1))


@pytest.mark.parametrize("descr", ["|V0", "<U0", "|S0", [("a", "<f4", (0,))]])
def test_a_header_of_empty_items_is_refused(descr):
    """Is an .npy header claiming 10**12 items of no bytes each over an empty payload (it
    matches the payload's size) refused, instead of reaching checks that would walk them?"""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": (10**12,)}
    np.lib.format.write_array_header_1_0(buffer, header)
    forged = {channel.ARRAY_TAG: base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(channel.ChannelError, match="cannot cross"):
        channel.loads((__import__("json").dumps({"value": forged}) + "\n").encode())


def test_arrays_of_numbers_booleans_and_strings_still_cross():
    """Do the kinds of array probes send (numbers, booleans, complex, strings) still cross?"""
    for array in (np.zeros(3, bool), np.arange(3), np.ones(2, np.complex64), np.array(["ab"])):
        back = channel.loads(channel.dumps({"value": array}))["value"]
        np.testing.assert_array_equal(back, array)


def test_a_message_of_too_many_arrays_is_refused_quickly():
    """Is a message of 300,000 empty arrays (each a header to parse: 10 s to read) refused
    after the first 10,000, and 10,000 still read?"""
    import json
    import time

    one = channel.encode(np.zeros(0, np.uint8))
    many = (json.dumps({"v": [one] * 300_000}) + "\n").encode()
    started = time.process_time()
    with pytest.raises(channel.ChannelError, match="more than 10000 arrays"):
        channel.loads(many)
    assert time.process_time() - started < 3
    assert len(channel.loads(channel.dumps({"v": [np.zeros(1)] * 10_000}))["v"]) == 10_000
