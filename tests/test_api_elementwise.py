"""The declared elementwise functions against torch: values, dtypes, gradients (first and second order) and
errors, over random shapes and dtypes."""
from __future__ import annotations

import numpy as np
import pytest

from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
DTYPES = ("float32", "float64", "int32", "int64", "bool")
SHAPES = [((3,), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((0, 2), (2,))]


def arrays(seed, shapes, dtypes):
    rng = np.random.default_rng(seed)
    out = []
    for shp, dt in zip(shapes, dtypes):
        a = rng.uniform(-3, 3, shp)
        out.append(a > 0 if dt == "bool" else np.round(a).astype(dt) if dt.startswith("int") else a.astype(dt))
    return out


@pytest.mark.parametrize("dx", DTYPES)
@pytest.mark.parametrize("dy", DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
def test_hypot(dx, dy, shapes):
    same_as_torch(lambda lib, x, y: lib.hypot(x, y), *arrays(1, shapes, (dx, dy)), second_order=True,
                  rtol=1e-5, atol=1e-6)


def test_hypot_forms_and_overflow():
    big = np.array([3e30, 1.0], np.float32)
    same_as_torch(lambda lib, x, y: (x.hypot(y), lib.hypot(x, 4.0)), big, np.array([4e30, 2.0], np.float32))
    same_as_torch(lambda lib, x, y: x.detach().clone().hypot_(y), big, big)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0, 2.0, "tensor", "0-d float64", "int"])
@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float64", "float64"), ("float32", "float64"),
                                    ("int64", "int64")])
def test_lerp(weight, dtypes):
    start, end, w = arrays(2, [(2, 3), (3,), (2, 3)], dtypes + (dtypes[0],))
    if weight == "tensor":
        same_as_torch(lambda lib, s, e, w: lib.lerp(s, e, w), start, end, w, second_order=True)
    elif weight == "0-d float64":
        same_as_torch(lambda lib, s, e, w: lib.lerp(s, e, w), start, end, np.array(0.25))
    elif weight == "int":
        same_as_torch(lambda lib, s, e: s.lerp(e, 2), start, end)
    else:
        same_as_torch(lambda lib, s, e: (lib.lerp(s, e, weight), s.lerp(e, weight)), start, end, second_order=True)


def test_lerp_grad_fn_and_in_place():
    same_as_torch(lambda lib, s, e, w: [s.lerp(e, 0.5).grad_fn.name(), s.lerp(e, w).grad_fn.name()],
                  *arrays(3, [(2,), (2,), (2,)], ("float32",) * 3))
    same_as_torch(lambda lib, s, e: s.detach().clone().lerp_(e, 0.25), *arrays(4, [(2,), (2,)], ("float64",) * 2))
    same_as_torch(lambda lib, s, e: s.detach().lerp_(e.unsqueeze(0).expand(2, 2), 0.25),
                  *arrays(4, [(2,), (2,)], ("float64",) * 2))
