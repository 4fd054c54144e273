"""The one protobuf <-> NumPy codec: round trips, byte order, and the checks it makes on the wire."""
from __future__ import annotations

import numpy as np
import pytest

from gradwire.core import codec
from gradwire.v1 import gradwire_pb2 as pb


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool", "uint8", "int8", "int16", "float16"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_round_trip_is_exact(dtype, shape):
    a = (np.random.default_rng(0).standard_normal(shape) * 10).astype(dtype)
    back = codec.tensor_from_proto(codec.tensor_to_proto(a))
    assert back.dtype == a.dtype and back.shape == a.shape
    np.testing.assert_array_equal(back, a)


def test_wire_bytes_are_little_endian_whatever_the_array_order():
    big = np.arange(4, dtype=">f4")
    t = codec.tensor_to_proto(big)
    assert t.dtype == pb.FLOAT32 and t.data == np.arange(4, dtype="<f4").tobytes()
    np.testing.assert_array_equal(codec.tensor_from_proto(t), [0, 1, 2, 3])


def test_non_contiguous_arrays_travel_in_c_order():
    a = np.arange(12.0).reshape(3, 4).T
    np.testing.assert_array_equal(codec.tensor_from_proto(codec.tensor_to_proto(a)), a)


@pytest.mark.parametrize("tensor, reason", [
    (pb.Tensor(dtype=pb.FLOAT32, shape=[3], data=b"\0" * 8),
     r"8 bytes of data, but shape \[3\] of float32 needs 12"),
    (pb.Tensor(dtype=pb.DTYPE_UNSPECIFIED, shape=[1], data=b"\0" * 4), "unknown or unspecified dtype"),
    (pb.Tensor(dtype=pb.FLOAT32, shape=[-1], data=b""), "negative dimension"),
    (pb.Tensor(dtype=pb.BOOL, shape=[2], data=b"\x00\x02"), "bool data must be bytes 0 or 1"),
])
def test_malformed_tensors_are_refused_with_the_reason(tensor, reason):
    with pytest.raises(codec.CodecError, match=reason):
        codec.tensor_from_proto(tensor)


def test_unsupported_dtypes_are_refused():
    with pytest.raises(codec.CodecError, match="complex128 is not supported"):
        codec.tensor_to_proto(np.ones(2, np.complex128))
