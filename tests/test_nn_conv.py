"""gradwire.nn's convolutions, pools, pad, fold and pixel shuffle against torch: values, gradients, second order,
grad_fn names, errors with PyTorch's messages, module reprs and init, and a small CNN trained in both."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
RNG = np.random.default_rng(23)


def r(*shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


def F(lib):
    return lib.nn.functional


# -- convolutions -----------------------------------------------------------------------------------------------
CONVS = [  # (nd, x shape, w shape, kwargs)
    (2, (2, 4, 7, 6), (6, 2, 3, 2), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)),
    (2, (1, 3, 5, 5), (2, 3, 3, 3), dict(padding="same")),
    (2, (2, 2, 6, 5), (3, 2, 2, 2), dict(padding="same", dilation=(1, 2))),
    (2, (3, 5, 5), (2, 3, 3, 3), dict(padding="valid")),                       # unbatched
    (2, (0, 3, 5, 5), (2, 3, 3, 3), dict()),                                   # empty batch
    (1, (2, 3, 9), (4, 3, 3), dict(stride=2, padding=2, dilation=2)),
    (1, (3, 8), (2, 3, 4), dict(padding="same")),
    (3, (1, 2, 5, 4, 6), (3, 2, 2, 3, 2), dict(stride=(1, 2, 1), padding=(1, 1, 0))),
    (2, (2, 4, 12, 12), (6, 2, 3, 3), dict(padding=1, groups=2)),               # >= 64 outputs: im2col per sample
]


@pytest.mark.parametrize("nd,xs,ws,kw", CONVS)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_matches_torch(nd, xs, ws, kw, bias):
    arrays = [r(*xs), r(*ws)] + ([r(ws[0])] if bias else [])
    same_as_torch(lambda lib, x, w, *b: getattr(F(lib), f"conv{nd}d")(x, w, *b, **kw), *arrays, second_order=True)


# Wide enough for the shifted-GEMM lowering (engine/conv_shifted.py): stride 1, >= 8 channels per group, a
# padded grid at most 1.5x the output. The test checks the lowering is the one taken, so it cannot go stale; the
# weight gradient's own size threshold is lowered so that its shifted GEMMs run here too.
SHIFTED = [
    (2, (2, 16, 10, 9), (32, 16, 3, 3), dict(padding=1)),
    (2, (1, 32, 11, 12), (32, 16, 3, 2), dict(padding=(2, 0), dilation=(1, 2), groups=2)),
    (1, (2, 16, 20), (16, 16, 5), dict(padding="same")),
    (3, (1, 16, 12, 10, 10), (16, 16, 2, 2, 3), dict(padding=(0, 1, 1))),
]


@pytest.mark.parametrize("nd,xs,ws,kw", SHIFTED)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_shifted_gemm_conv_matches_torch(nd, xs, ws, kw, dtype, monkeypatch):
    from gradwire.engine import conv_shifted
    monkeypatch.setattr(conv_shifted, "WEIGHT_GRAD_MIN_CELLS", 0)
    lo = kw.get("padding", 0)
    lo = [(k - 1) * d // 2 for k, d in zip(ws[2:], [1] * nd)] if lo == "same" else lo
    lo = [lo] * nd if isinstance(lo, int) else list(lo)
    dil = list(kw.get("dilation", (1,) * nd))
    hi = [(k - 1) * d - a for k, d, a in zip(ws[2:], dil, lo)] if kw.get("padding") == "same" else lo
    for weight_grad in (False, True):
        assert conv_shifted.usable(xs, ws, np.dtype(dtype), (1,) * nd, lo, hi, dil, kw.get("groups", 1), weight_grad)
    tol = 1e-10 if dtype == "float64" else 1e-4
    same_as_torch(lambda lib, x, w: getattr(F(lib), f"conv{nd}d")(x, w, **kw), r(*xs, dtype=dtype),
                  r(*ws, dtype=dtype), second_order=dtype == "float64", rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blas_gemm_on_column_windows(dtype):
    """The CBLAS call behind the lowering: column windows and transposed views as operands, beta 1 adds, beta 0
    never reads the old output (NaN there must not leak)."""
    from gradwire.engine import blas
    assert blas.available(dtype)
    a, b = r(5, 7, dtype=dtype), r(3, 40, dtype=dtype)
    out = np.full((5, 30), np.nan, dtype)
    blas.gemm(a[:, 1:4], b[:, 2:32], out)
    np.testing.assert_allclose(out, a[:, 1:4] @ b[:, 2:32], rtol=1e-5)
    c = r(3, 50, dtype=dtype)
    blas.gemm(b[:, 5:10].T, c[:, 10:40], out, beta=1.0)
    np.testing.assert_allclose(out, a[:, 1:4] @ b[:, 2:32] + b[:, 5:10].T @ c[:, 10:40], rtol=1e-5)


@pytest.mark.parametrize("where", ["x_last_column", "w", "x_nan_inside"])
def test_shifted_gemm_conv_nan_inf_as_torch(where, monkeypatch):
    """The lowering multiplies the grid's unused cells by zero: an Inf there must not turn into NaN."""
    from gradwire.engine import conv_shifted
    monkeypatch.setattr(conv_shifted, "WEIGHT_GRAD_MIN_CELLS", 0)
    x, w = r(2, 16, 10, 9), r(32, 16, 3, 3)
    if where == "x_last_column":
        x[0, 3, 4, -1] = np.inf          # only the last taps of a row see it: 0 * Inf elsewhere on the grid
    elif where == "w":
        w[5, 2, 0, 0] = -np.inf
    else:
        x[1, 0, 5, 5] = np.nan
    same_as_torch(lambda lib, x, w: F(lib).conv2d(x, w, padding=1), x, w)


TRANSPOSED = [
    (2, (2, 4, 4, 3), (4, 3, 3, 2), dict(stride=2, padding=1, output_padding=1, groups=2)),
    (2, (4, 3, 3), (4, 2, 2, 2), dict(stride=(1, 2), dilation=(2, 1))),        # unbatched
    (1, (2, 4, 5), (4, 3, 3), dict(padding=1, output_padding=1, dilation=2)),  # output_padding < dilation only
    (3, (1, 2, 3, 2, 3), (2, 2, 2, 2, 2), dict(stride=2, output_padding=(1, 0, 1))),
]


@pytest.mark.parametrize("nd,xs,ws,kw", TRANSPOSED)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_matches_torch(nd, xs, ws, kw, bias):
    groups = kw.get("groups", 1)
    arrays = [r(*xs), r(*ws)] + ([r(ws[1] * groups)] if bias else [])
    same_as_torch(lambda lib, x, w, *b: getattr(F(lib), f"conv_transpose{nd}d")(x, w, *b, **kw), *arrays,
                  second_order=True)


def test_conv_float32_and_int():
    same_as_torch(lambda lib, x, w: F(lib).conv2d(x, w, padding=1), r(2, 3, 6, 6, dtype="float32"),
                  r(4, 3, 3, 3, dtype="float32"), rtol=1e-5, atol=1e-5)
    same_as_torch(lambda lib, x, w: F(lib).conv1d(x, w), RNG.integers(-5, 5, (2, 3, 6)), RNG.integers(-5, 5, (2, 3, 3)))
    same_as_torch(lambda lib, x, w: F(lib).conv2d(x, w), RNG.integers(-5, 5, (2, 3, 10, 10)),
                  RNG.integers(-5, 5, (2, 3, 2, 2)))


BAD_CONVS = [
    lambda lib, x, w: F(lib).conv2d(x, w[:, :2]),
    lambda lib, x, w: F(lib).conv2d(x, w, groups=2),
    lambda lib, x, w: F(lib).conv2d(x, w, stride=0),
    lambda lib, x, w: F(lib).conv2d(x, w, padding=-1),
    lambda lib, x, w: F(lib).conv2d(x, w, dilation=0),
    lambda lib, x, w: F(lib).conv2d(x, w, padding="same", stride=2),
    lambda lib, x, w: F(lib).conv2d(x, w, padding="foo"),
    lambda lib, x, w: F(lib).conv2d(x, w, padding=(1, 1, 1)),
    lambda lib, x, w: F(lib).conv2d(x[:, :, :2, :2], w),
    lambda lib, x, w: F(lib).conv2d(x, w[0]),
    lambda lib, x, w: F(lib).conv2d(x[0, 0], w),
    lambda lib, x, w: F(lib).conv2d(x, w, bias=w[0, 0, 0]),
    lambda lib, x, w: F(lib).conv2d(x.double(), w),
    lambda lib, x, w: F(lib).conv2d(x, w.double()),
    lambda lib, x, w: F(lib).conv2d(x, w, bias=lib.zeros(4, dtype=lib.float64)),
    lambda lib, x, w: F(lib).conv2d(x.bool(), w.bool()),
    lambda lib, x, w: F(lib).conv2d(x, w[:0]),
    lambda lib, x, w: F(lib).conv_transpose2d(x, w),
    lambda lib, x, w: F(lib).conv_transpose2d(x, w.transpose(0, 1), output_padding=1),
    lambda lib, x, w: F(lib).conv_transpose2d(x, w.transpose(0, 1), padding="same"),
]


@pytest.mark.parametrize("k", range(len(BAD_CONVS)))
def test_conv_errors_match_torch(k):
    same_as_torch(BAD_CONVS[k], r(2, 3, 8, 8, dtype="float32"), r(4, 3, 3, 3, dtype="float32"))


# -- pools ------------------------------------------------------------------------------------------------------
POOLS = [
    lambda lib, x: F(lib).max_pool2d(x, 3, 2, 1, return_indices=True),
    lambda lib, x: F(lib).max_pool2d(x, (2, 3), (2, 1), (1, 0), dilation=(2, 1), ceil_mode=True, return_indices=True),
    lambda lib, x: F(lib).max_pool2d(x[0], 2),
    lambda lib, x: F(lib).max_pool1d(x[:, :, 0], 3, 2, 1, return_indices=True),
    lambda lib, x: F(lib).max_pool1d(x[0, :, 0], 2, ceil_mode=True),
    lambda lib, x: F(lib).max_pool3d(x.reshape(2, 1, 4, 7, 6), 2, padding=1, return_indices=True),
    lambda lib, x: F(lib).avg_pool2d(x, 3, 2, 1),
    lambda lib, x: F(lib).avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda lib, x: F(lib).avg_pool2d(x, (2, 3), 2, 1, ceil_mode=True),
    lambda lib, x: F(lib).avg_pool2d(x[0], 2, divisor_override=3),
    lambda lib, x: F(lib).avg_pool1d(x[:, :, 0], 3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda lib, x: F(lib).avg_pool3d(x.reshape(2, 1, 4, 7, 6), 2, 2, 1),
    lambda lib, x: F(lib).adaptive_avg_pool2d(x, (3, 4)),
    lambda lib, x: F(lib).adaptive_avg_pool2d(x, (None, 4)),
    lambda lib, x: F(lib).adaptive_avg_pool2d(x[0], 1),
    lambda lib, x: F(lib).adaptive_avg_pool2d(x, (9, 10)),
    lambda lib, x: F(lib).adaptive_avg_pool1d(x[:, :, 0], 4),
    lambda lib, x: F(lib).adaptive_max_pool2d(x, (3, 4), return_indices=True),
    lambda lib, x: F(lib).adaptive_max_pool2d(x[0], 5),
    lambda lib, x: F(lib).adaptive_max_pool1d(x[:, :, 0], 4, return_indices=True),
]


@pytest.mark.parametrize("k", range(len(POOLS)))
def test_pools_match_torch(k):
    same_as_torch(POOLS[k], r(2, 4, 7, 6), second_order=True)


def test_max_pool_ties_nan_and_float32():
    x = np.array([[[[1.0, 1.0, 0.0], [np.nan, 2.0, np.nan], [-np.inf, -np.inf, 3.0]]]])
    same_as_torch(lambda lib, x: F(lib).max_pool2d(x, 2, 1, return_indices=True), x)
    ties = RNG.integers(0, 2, (2, 3, 6, 6)).astype("float32")
    same_as_torch(lambda lib, x: F(lib).max_pool2d(x, 3, 2, 1, return_indices=True), ties)
    same_as_torch(lambda lib, x: F(lib).adaptive_max_pool2d(x, 4, return_indices=True), ties)


BAD_POOLS = [
    lambda lib, x: F(lib).max_pool2d(x, 2, padding=2),
    lambda lib, x: F(lib).max_pool2d(x, 9),
    lambda lib, x: F(lib).max_pool2d(x, (2, 2, 2)),
    lambda lib, x: F(lib).max_pool2d(x, 2, stride=(1, 1, 1)),
    lambda lib, x: F(lib).max_pool2d(x, 2, stride=0),
    lambda lib, x: F(lib).max_pool2d(x[0, 0], 2),
    lambda lib, x: F(lib).max_pool2d(x, 3, padding=3, dilation=2),
    lambda lib, x: F(lib).max_pool2d(x, (0, 2), 1),
    lambda lib, x: F(lib).max_pool2d(x, 2, 1, dilation=0),
    lambda lib, x: F(lib).max_pool1d(x[0], 0, 1),
    lambda lib, x: F(lib).avg_pool2d(x, 0, 1),
    lambda lib, x: F(lib).avg_pool2d(x, 2, padding=2),
    lambda lib, x: F(lib).avg_pool2d(x, (2, 2, 2)),
    lambda lib, x: F(lib).avg_pool2d(x, 2, divisor_override=0),
    lambda lib, x: F(lib).avg_pool2d(x, 9),
    lambda lib, x: F(lib).adaptive_avg_pool2d(x, (3,)),
    lambda lib, x: F(lib).adaptive_avg_pool2d(x[0, 0], 3),
]


@pytest.mark.parametrize("k", range(len(BAD_POOLS)))
def test_pool_errors_match_torch(k):
    same_as_torch(BAD_POOLS[k], r(2, 3, 8, 8, dtype="float32"))


# -- pad, unfold, fold, pixel shuffle -----------------------------------------------------------------------------
PADS = [((2, 1), "constant", None), ((2, -1, 1, 3), "constant", 2.5), ((1, 1, 0, 2, 1, 1), "constant", None),
        ((2, 1), "reflect", None), ((2, -1, 1, 3), "reflect", None), ((1, 2, 1, 1, 1, 0), "reflect", None),
        ((3, 1), "replicate", None), ((2, -1, 4, 3), "replicate", None),
        ((2, 1), "circular", None), ((2, -1, -1, 3), "circular", None), ((4, 5), "circular", None)]


@pytest.mark.parametrize("pad,mode,value", PADS)
def test_pad_matches_torch(pad, mode, value):
    kw = {} if value is None else {"value": value}
    same_as_torch(lambda lib, x: F(lib).pad(x, pad, mode=mode, **kw), r(2, 3, 4, 5), second_order=True)
    if mode != "constant" and len(pad) < 6:
        same_as_torch(lambda lib, x: F(lib).pad(x, pad, mode=mode), r(3, 4, 5)[(0,) * (3 - len(pad) // 2 - 1)])


BAD_PADS = [((1,), "constant"), ((1,) * 10, "constant"), ((1, 1), "foo"), ((1, 1), "reflect"),
            ((5, 5, 1, 1), "reflect"), ((1, 1, 1, 1, 1, 1), "replicate"), ((9, 1, 1, 1), "circular")]


@pytest.mark.parametrize("pad,mode", BAD_PADS)
def test_pad_errors_match_torch(pad, mode):
    same_as_torch(lambda lib, x: F(lib).pad(x, pad, mode=mode), r(2, 3, 4, 5))
    same_as_torch(lambda lib, x: F(lib).pad(x, (1, 1), mode="reflect", value=2.0), r(2, 3, 4))


FOLDS = [
    lambda lib, x: F(lib).unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
    lambda lib, x: F(lib).unfold(x[0], 2),
    lambda lib, x: F(lib).fold(F(lib).unfold(x, 3, padding=1, stride=2), (7, 6), 3, padding=1, stride=2),
    lambda lib, x: F(lib).fold(x.reshape(2, 12, 14)[0], (5, 8), (2, 3), dilation=(1, 2)),
    lambda lib, x: F(lib).pixel_shuffle(x.reshape(2, 4, 6, 7), 2),
    lambda lib, x: F(lib).pixel_unshuffle(x[:, :, :6], 3),
    lambda lib, x: F(lib).unfold(x, 9),
    lambda lib, x: F(lib).unfold(x[0, 0], 2),
    lambda lib, x: F(lib).fold(F(lib).unfold(x, 2), (7, 7), 2),
    lambda lib, x: F(lib).fold(F(lib).unfold(x, 2), (7, 6), 3),
    lambda lib, x: F(lib).pixel_shuffle(x, 2),
    lambda lib, x: F(lib).pixel_unshuffle(x, 4),
]


@pytest.mark.parametrize("k", range(len(FOLDS)))
def test_unfold_fold_pixel_shuffle_match_torch(k):
    same_as_torch(FOLDS[k], r(2, 4, 7, 6), second_order=True)


def test_grad_fn_names():
    x = gw.randn(2, 3, 8, 8, requires_grad=True)
    w = gw.randn(4, 3, 3, 3, requires_grad=True)
    f = gw.nn.functional
    names = {
        "ConvolutionBackward0": f.conv2d(x, w, w[:, 0, 0, 0]),
        "MaxPool2DWithIndicesBackward0": f.max_pool2d(x, 2),
        "AvgPool2DBackward0": f.avg_pool2d(x, 2),
        "AdaptiveAvgPool2DBackward0": f.adaptive_avg_pool2d(x, 3),
        "AdaptiveMaxPool2DBackward0": f.adaptive_max_pool2d(x, 3),
        "MaxPool3DWithIndicesBackward0": f.max_pool3d(x, 2),
        "Im2ColBackward0": f.unfold(x, 2),
        "ReflectionPad2DBackward0": f.pad(x, (1, 1, 1, 1), mode="reflect"),
        "ConstantPadNdBackward0": f.pad(x, (1, 1)),
        "PixelShuffleBackward0": f.pixel_shuffle(x.reshape(2, 12, 4, 4), 2),
        "SqueezeBackward1": f.conv2d(x[0], w),
    }
    assert {k: type(v.grad_fn).__name__ for k, v in names.items()} == {k: k for k in names}


# -- modules ------------------------------------------------------------------------------------------------------
MODULES = ["Conv2d(3, 6, 5)", "Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False, "
           "padding_mode='reflect')", "Conv1d(2, 3, 3, padding='same')", "Conv3d(2, 2, 2)",
           "ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)", "ConvTranspose1d(2, 2, 3)", "MaxPool2d(2)",
           "MaxPool2d((2, 3), stride=1)", "MaxPool1d(2)", "AvgPool2d(2)", "AvgPool1d(2)",
           "AdaptiveAvgPool2d((3, None))", "AdaptiveAvgPool1d(3)", "AdaptiveMaxPool2d(3)", "Unfold(2)", "Fold((4, 4), 2)", "PixelShuffle(2)",
           "ZeroPad2d((1, 2, 3, 4))", "ConstantPad1d(2, 3.5)", "ConstantPad2d(1, 0)", "ReflectionPad1d(2)",
           "ReflectionPad2d((1, 0, 2, 1))", "ReplicationPad1d(1)", "ReplicationPad2d(1)"]


@pytest.mark.parametrize("spec", MODULES)
def test_module_repr_matches_torch(spec):
    assert repr(eval("gw.nn." + spec)) == repr(eval("torch.nn." + spec))


@pytest.mark.parametrize("padding", [(1, 2), "same", "valid"])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_module_from_torch_state(mode, padding):
    stride = (2, 1) if padding != "same" else 1
    t = torch.nn.Conv2d(4, 6, (3, 2), stride=stride, padding=padding, groups=2, padding_mode=mode).double()
    g = gw.nn.Conv2d(4, 6, (3, 2), stride=stride, padding=padding, groups=2, padding_mode=mode).double()
    g.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    x = r(2, 4, 7, 6)
    np.testing.assert_allclose(g(gw.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)


def test_conv_module_init_bounds():
    m = gw.nn.Conv2d(3, 8, 5)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    bound = 1 / np.sqrt(3 * 25)
    assert w.shape == (8, 3, 5, 5) and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.8 * bound and w.dtype == np.float32
    mt = gw.nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert tuple(mt.weight.shape) == (4, 3, 3, 3) and np.abs(mt.bias.detach().numpy()).max() <= 1 / np.sqrt(27)


@pytest.mark.parametrize("make", [lambda nn: nn.Conv2d(3, 6, 5, groups=2), lambda nn: nn.Conv2d(4, 6, 5, groups=4),
                                  lambda nn: nn.Conv2d(4, 6, 5, padding="foo"),
                                  lambda nn: nn.Conv2d(4, 6, 5, stride=2, padding="same"),
                                  lambda nn: nn.Conv2d(4, 6, 5, groups=0)])
def test_conv_module_errors_match_torch(make):
    with pytest.raises(ValueError) as theirs:
        make(torch.nn)
    with pytest.raises(ValueError) as ours:
        make(gw.nn)
    assert str(ours.value) == str(theirs.value)


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 3 * 3, 10), nn.ReLU(), nn.Linear(10, 3))


def test_small_cnn_trains_like_torch():
    x, y = RNG.standard_normal((8, 1, 14, 14)).astype("float32"), RNG.integers(0, 3, 8)
    state = lenet(torch).state_dict()
    params = {}
    for lib in (gw, torch):
        m = lenet(lib)
        m.load_state_dict(state if lib is torch else {k: v.numpy() for k, v in state.items()})
        opt = lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        xt, yt = lib.tensor(x), lib.tensor(y)
        for _ in range(5):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(xt), yt)
            loss.backward()
            opt.step()
        params[lib.__name__] = [p.detach().numpy() for p in m.parameters()]
    for ours, theirs in zip(params["gradwire"], params["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,k,stride,lo,hi,dil", [((2, 3, 7), (3,), (2,), (1,), (-1,), (2,)),
                                                      ((2, 2, 6, 5), (2, 3), (1, 2), (0, 1), (1, 0), (2, 1)),
                                                      ((1, 2, 4, 3, 5), (2, 1, 2), (2, 1, 1), (1, 0, 0), (0, -1, 1),
                                                       (1, 1, 2))])
def test_col2im_kernel_matches_numpy_loop(shape, k, stride, lo, hi, dil):
    from gradwire.engine import conv_kernels as K
    out = [(s + a + b - d * (kk - 1) - 1) // st + 1 for s, kk, st, a, b, d in zip(shape[2:], k, stride, lo, hi, dil)]
    cols = RNG.standard_normal((shape[1],) + k + (shape[0],) + tuple(out))
    np.testing.assert_allclose(K.col2im(cols, shape, stride, lo, hi, dil),
                               K.col2im_numpy(cols, shape, stride, lo, hi, dil), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [lambda f, x: f.max_pool2d(x, 2, return_indices=True),
                                lambda f, x: f.adaptive_max_pool2d(x, 3, return_indices=True)])
def test_pool_indices_do_not_require_grad(fn):
    for lib in (gw, torch):
        values, indices = fn(lib.nn.functional, lib.randn(2, 3, 6, 6, requires_grad=True))
        assert (values.requires_grad, indices.requires_grad, indices.grad_fn) == (True, False, None)


# -- 3-d modules, lp pools, max unpools ----------------------------------------------------------------------------
def test_lp_pools_adaptive_3d_and_max_unpool_match_torch():
    rng = np.random.default_rng(5)
    x2, x3 = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((2, 2, 6, 5, 4))
    same_as_torch(lambda lib, x: [lib.nn.functional.adaptive_avg_pool3d(x, (3, 2, 2)),
                                  lib.nn.functional.adaptive_max_pool3d(x, 2)], x3, second_order=True, rtol=1e-9,
                  atol=1e-12)
    for p in (1.0, 2.0, 3.0):
        same_as_torch(lambda lib, x: [lib.nn.functional.lp_pool2d(x.abs() + 0.1, p, 2),
                                      lib.nn.functional.lp_pool1d(x[:, :, 0].abs() + 0.1, p, 3, 2),
                                      lib.nn.functional.lp_pool2d(x.abs() + 0.1, p, (2, 3), stride=1)],
                      x2, second_order=True, rtol=1e-9, atol=1e-12)

    def unpool(lib, x):
        F = lib.nn.functional
        out, idx = F.max_pool2d(x, 2, return_indices=True)
        o1, i1 = F.max_pool1d(x[:, :, 0], 3, 2, return_indices=True)
        return [F.max_unpool2d(out, idx, 2), F.max_unpool2d(out, idx, 2, output_size=(7, 7)),
                F.max_unpool1d(o1, i1, 3, 2)]
    same_as_torch(unpool, x2, second_order=True, rtol=1e-9, atol=1e-12)
    same_as_torch(lambda lib, x: lib.nn.functional.max_unpool2d(*lib.nn.functional.max_pool2d(
        x, 2, return_indices=True), 2, output_size=(9, 9)), x2)          # out of range: PyTorch's ValueError


@pytest.mark.parametrize("make", ["MaxPool3d(2)", "AvgPool3d(2, 1, 1)", "ConvTranspose3d(2, 3, 2)",
                                  "AdaptiveAvgPool3d(2)", "AdaptiveMaxPool3d((2, 1, 2))", "LPPool2d(2, 3)",
                                  "LPPool1d(2, 3)", "MaxUnpool2d(2)", "MaxUnpool1d(2)"])
def test_more_modules_match_torch(make):
    g, t = eval("gw.nn." + make), eval("torch.nn." + make)
    assert repr(g) == repr(t)
    if make.startswith(("MaxUnpool", "LPPool")):
        return
    g.double(), t.double()
    if list(t.state_dict()):
        g.load_state_dict(t.state_dict())
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 4, 4))
    np.testing.assert_allclose(g(gw.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv_batch_split_over_threads_matches_torch(dtype):
    """The im2col path splits a large batch over the block threads: each part's values and the weight
    gradient's sum over parts must still be torch's."""
    from gradwire.engine import blocks, conv_kernels as K
    x, w = r(8, 3, 20, 20, dtype=dtype), r(4, 3, 5, 5, dtype=dtype)
    geo = ((1, 2), (2, 1), (2, 0), (1, 1), 1)
    before = blocks.threads()
    blocks.set_threads(2)
    try:
        assert len(K._parts(8, x.size * 25)) == 2
        y = K.conv(x, w, *geo)
        g = r(*y.shape, dtype=dtype)
        dx, dw = K.conv_input_grad(g, w, x.shape, *geo), K.conv_weight_grad(x, g, w.shape, *geo)
    finally:
        blocks.set_threads(before)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(torch.nn.functional.pad(tx, (1, 0, 2, 2)), tw, stride=(1, 2))
    ty.backward(torch.tensor(g))
    tol = 1e-10 if dtype == "float64" else 1e-4
    for ours, theirs in ((y, ty), (dx, tx.grad), (dw, tw.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol, atol=tol)
