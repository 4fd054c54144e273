"""Random draws and their generators (torch.Generator, manual_seed, rand, normal, multinomial, ...).

Draws are made here, in the client, where the tensor is created, with NumPy's PCG64: a seed gives the same
values on every server, in every process and on every machine. They are not PyTorch's values for that seed
(its generator is a Mersenne Twister with its own transforms); the distributions are the same.
"""
from __future__ import annotations

import os

import numpy as np

from gradwire import devices, dtypes
from gradwire.core.dtypes import LEGACY_NAMES
from gradwire.session import current_session
from gradwire.tensor import Tensor, leaf_from_data

_DEFAULT_SEED = 67280421310721        # what a new torch.Generator() starts from
_STATE_BYTES = 8 + 16 + 16 + 1 + 4    # seed, PCG64 state and increment, the buffered 32-bit half


def _seed_value(seed) -> int:
    """torch.manual_seed's range: any 64-bit pattern (negative seeds wrap)."""
    seed = int(seed)
    if not -2**63 <= seed < 2**64:
        raise ValueError("Overflow when unpacking long long")
    return seed % 2**64


class Generator:
    """A stream of random numbers, as torch.Generator: manual_seed, seed, initial_seed, get_state/set_state."""

    def __init__(self, device="cpu"):
        if devices.device(device).type != "cpu":
            raise RuntimeError(f"gradwire draws on the client's CPU: device '{device}' is not available")
        self.device = devices.CPU
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed) -> "Generator":
        self._seed = _seed_value(seed)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        seed = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        """The whole state as an opaque uint8 tensor (set_state takes it back)."""
        st = self._rng.bit_generator.state
        raw = (self._seed.to_bytes(8, "little") + st["state"]["state"].to_bytes(16, "little")
               + st["state"]["inc"].to_bytes(16, "little") + bytes([st["has_uint32"]])
               + int(st["uinteger"]).to_bytes(4, "little"))
        return leaf_from_data(current_session(), np.frombuffer(raw, np.uint8).copy())

    def set_state(self, new_state) -> "Generator":
        if isinstance(new_state, Tensor):
            if new_state.dtype != dtypes.uint8:
                raise TypeError("RNG state must be a torch.ByteTensor")
            new_state = new_state.numpy()
        raw = bytes(np.asarray(new_state, np.uint8).reshape(-1))
        if len(raw) != _STATE_BYTES:
            raise RuntimeError(f"Expected a gradwire generator state of size {_STATE_BYTES} but found the input "
                               f"RNG state size to be {len(raw)}")
        self._seed = int.from_bytes(raw[:8], "little")
        bits = np.random.PCG64()
        bits.state = {"bit_generator": "PCG64",
                      "state": {"state": int.from_bytes(raw[8:24], "little"),
                                "inc": int.from_bytes(raw[24:40], "little")},
                      "has_uint32": raw[40], "uinteger": int.from_bytes(raw[41:45], "little")}
        self._rng = np.random.Generator(bits)
        return self

    def __repr__(self) -> str:
        return f"<gradwire.Generator object at {id(self):#x}>"


default_generator = Generator()
default_generator.seed()              # as PyTorch's default generator: a fresh seed in each process


def manual_seed(seed) -> Generator:
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    default_generator.set_state(new_state)


def _rng(generator) -> np.random.Generator:
    if generator is None:
        return default_generator._rng
    if not isinstance(generator, Generator):
        raise TypeError(f"expected a gradwire.Generator as generator (got {type(generator).__name__})")
    return generator._rng


def _size(size, keyword=None) -> tuple[int, ...]:
    from gradwire.factories import _size as sizes
    return sizes(size, keyword)


def _float_dtype(dtype, kernel: str) -> dtypes.DType:
    out = dtypes.as_dtype(dtype if dtype is not None else dtypes.DEFAULT_FLOAT)
    if not out.is_floating_point:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{LEGACY_NAMES[out.name]}\'')
    return out


def uniform01(rng: np.random.Generator, shape, dtype: dtypes.DType) -> np.ndarray:
    """Uniform on [0, 1) in dtype, never 1 after rounding (float16: multiples of 2**-11, as PyTorch)."""
    if dtype.name == "float16":
        return (rng.integers(0, 2**11, shape) * 2.0**-11).astype(np.float16)
    return rng.random(shape, dtype=np.float32 if dtype.name == "float32" else np.float64)


def standard_normal(rng: np.random.Generator, shape, dtype: dtypes.DType) -> np.ndarray:
    wide = np.float64 if dtype.name == "float64" else np.float32
    return rng.standard_normal(shape, dtype=wide).astype(dtype.numpy, copy=False)


def _leaf(value, requires_grad) -> Tensor:
    return leaf_from_data(current_session(), value, None, requires_grad)


def rand(*shape, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    devices.check(device)
    out = _float_dtype(dtype, "check_uniform_bounds")
    return _leaf(uniform01(_rng(generator), _size(shape, size), out), requires_grad)


def randn(*shape, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    devices.check(device)
    out = _float_dtype(dtype, "normal_kernel_cpu")
    return _leaf(standard_normal(_rng(generator), _size(shape, size), out), requires_grad)


def _like(input: Tensor, dtype, requires_grad, draw, kernel, device) -> Tensor:
    devices.check(device)
    out = _float_dtype(dtype if dtype is not None else input.dtype, kernel)
    value = draw(default_generator._rng, tuple(input.shape), out)
    return leaf_from_data(input._node.session, value, None, requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(input, dtype, requires_grad, uniform01, "check_uniform_bounds", device)


def randn_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(input, dtype, requires_grad, standard_normal, "normal_kernel_cpu", device)


def integers(rng: np.random.Generator, low: int, high: int, shape, dtype: dtypes.DType) -> np.ndarray:
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return rng.integers(low, high, shape, dtype=np.int64, endpoint=False).astype(dtype.numpy)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers uniform on [low, high): randint(high, size) or randint(low, high, size); int64 by default."""
    devices.check(device)
    if high is None:                # randint(high, size) and randint(high, size=...)
        low, high = 0, low
    elif size is None:              # randint(high, size) given positionally as (low, high)
        low, high, size = 0, low, high
    out = dtypes.as_dtype(dtype if dtype is not None else dtypes.int64)
    return _leaf(integers(_rng(generator), int(low), int(high), _size((size,)), out), requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    devices.check(device)
    if high is None:
        low, high = 0, low
    out = dtypes.as_dtype(dtype if dtype is not None else input.dtype)
    value = integers(default_generator._rng, int(low), int(high), tuple(input.shape), out)
    return leaf_from_data(input._node.session, value, None, requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0 .. n-1 (int64 by default)."""
    devices.check(device)
    n = int(n)
    shape = _size((n,))
    out = dtypes.as_dtype(dtype if dtype is not None else dtypes.int64)
    if not out.is_floating_point and out.name != "bool" and n > np.iinfo(out.numpy).max + 1:
        raise RuntimeError(f"value cannot be converted to type {_CPP_INT[out.name]} without overflow")
    return _leaf(_rng(generator).permutation(shape[0]).astype(out.numpy), requires_grad)


_CPP_INT = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int", "int64": "int64_t"}


def _check_std(std) -> None:
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Normal draws: normal(mean tensor, std tensor or float), normal(mean float, std tensor),
    normal(mean float, std float, size). With tensor arguments the result has PyTorch's grad_fn
    (NormalBackward1/2/3) and, as in PyTorch, a zero gradient."""
    devices.check(device)
    from gradwire import ops
    rng = _rng(generator)
    tm, ts = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not tm and not ts:
        if size is None:
            raise TypeError("normal() missing 1 required positional argument: 'size'")
        _check_std(float(std))
        out = _float_dtype(dtype, "normal_kernel_cpu")
        z = standard_normal(rng, _size((size,)), out)
        return _leaf((float(mean) + float(std) * z.astype(np.float64)).astype(out.numpy), requires_grad)
    ref = mean if tm else std
    out = _float_dtype(ref.dtype, "normal_kernel_cpu")
    if tm and ts:
        shape = np.broadcast_shapes(tuple(mean.shape), tuple(std.shape))
        label = "NormalBackward3"
    else:
        shape = tuple(ref.shape)
        label = "NormalBackward1" if tm else "NormalBackward2"
    if ts:
        s = std.detach().numpy()
        if s.size and s.min() < 0:
            raise RuntimeError("normal expects all elements of std >= 0.0")
    else:
        _check_std(float(std))
    z = standard_normal(rng, shape, out)
    m = mean.detach().numpy() if tm else float(mean)
    s = std.detach().numpy() if ts else float(std)
    value = (m + s * z).astype(out.numpy)
    noise = leaf_from_data(ref._node.session, value)
    history = [t for t in (mean, std) if isinstance(t, Tensor) and t.requires_grad]
    if not history:
        return noise
    # A zero gradient to mean and std, under PyTorch's grad_fn name: the draws' value, the inputs' history.
    zero = sum((ops.apply("broadcast_to", t * 0.0, attrs={"shape": shape}) for t in history[1:]),
               ops.apply("broadcast_to", history[0] * 0.0, attrs={"shape": shape}))
    return ops.apply("with_value", zero, noise, label=label)


def _check_probabilities(p: np.ndarray) -> None:
    if p.size and (np.isnan(p).any() or p.min() < 0 or p.max() > 1):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  (Could this error message "
                           "be improved?  If so, please report an enhancement request to PyTorch.)")


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """0/1 draws with probability input (or p, a float, with input's shape and dtype), input's dtype."""
    out = input.dtype
    if p is None:
        if not out.is_floating_point:
            raise NotImplementedError(f'"bernoulli_tensor_cpu_p_" not implemented for \'{LEGACY_NAMES[out.name]}\'')
        probs = input.detach().numpy().astype(np.float64)
        _check_probabilities(probs)
    else:
        probs = np.full(tuple(input.shape), float(p))
    value = (_rng(generator).random(probs.shape) < probs).astype(out.numpy)
    result = leaf_from_data(input._node.session, value)
    if p is None and input.requires_grad:
        from gradwire import ops
        return ops.apply("with_value", input * 0.0, result, label="BernoulliBackward0")
    return result


def multinomial(input, num_samples, replacement=False, *, generator=None) -> Tensor:
    """Indices drawn with the weights in each row of input (1-D or 2-D), int64. Without replacement each row
    is a weighted draw in order (exponential keys over the weights: zero weights come last)."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{LEGACY_NAMES[input.dtype.name]}")
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    n = int(num_samples)
    if n <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    w = input.detach().numpy().astype(np.float64)
    rows = w.reshape(-1, w.shape[-1])
    k = rows.shape[-1]
    if not replacement and n > k:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (rows.sum(-1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rng = _rng(generator)
    if replacement:
        cdf = np.cumsum(rows, -1)
        u = rng.random((rows.shape[0], n)) * cdf[:, -1:]
        idx = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
        idx = np.minimum(idx, k - 1)
    else:
        with np.errstate(divide="ignore"):
            keys = rng.standard_exponential(rows.shape) / rows
        idx = np.argsort(keys, axis=-1, kind="stable")[:, :n]
    shape = (n,) if w.ndim == 1 else (w.shape[0], n)
    return leaf_from_data(input._node.session, idx.reshape(shape).astype(np.int64))


# -- in-place fillers: the tensor's values replaced by draws (PyTorch's grad_fn names; zero gradient) ----
def _fill_with(x: Tensor, value: np.ndarray, label: str) -> Tensor:
    from gradwire.graph import Node
    node = x._node
    x._check_writable()
    return x._write(Node(node.session, None, value=np.asarray(value, node.dtype).reshape(node.shape)), label)


def uniform_(input, from_=0.0, to=1.0, *, generator=None, **kwargs):
    from_ = kwargs.pop("from", from_)
    out = _float_dtype(input.dtype, "check_uniform_bounds")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_:g} > to={to:g}")
    u = uniform01(_rng(generator), tuple(input.shape), out).astype(np.float64)
    return _fill_with(input, from_ + (to - from_) * u, "UniformBackward0")


def normal_(input, mean=0.0, std=1.0, *, generator=None):
    out = _float_dtype(input.dtype, "normal_kernel_cpu")
    _check_std(std)
    z = standard_normal(_rng(generator), tuple(input.shape), out).astype(np.float64)
    return _fill_with(input, mean + std * z, "NormalBackward0")


def exponential_(input, lambd=1.0, *, generator=None):
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"Exponential distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {LEGACY_NAMES[input.dtype.name]}")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    return _fill_with(input, _rng(generator).exponential(1.0 / lambd, tuple(input.shape)), "ExponentialBackward0")


_RANDOM_TOP = {"float16": 2**11, "float32": 2**24, "float64": 2**53, "bool": 1}


def random_(input, from_=None, to=None, *, generator=None, **kwargs):
    """Integers uniform on [from, to): random_() spans [0, the largest integer the dtype holds exactly]."""
    from_ = kwargs.pop("from", from_)
    name = input.dtype.name
    if from_ is None:
        top = _RANDOM_TOP[name] if name in _RANDOM_TOP else int(np.iinfo(input.dtype.numpy).max)
        low, high, label = 0, top + 1, "RandomBackward2"
    elif to is None:
        low, high, label = 0, int(from_), "RandomBackward1"
    else:
        low, high, label = int(from_), int(to), "RandomBackward0"
    if high > 2**63 - 1:
        value = _rng(generator).integers(0, 2**63 - 1, tuple(input.shape), dtype=np.int64, endpoint=True)
    else:
        value = integers(_rng(generator), low, high, tuple(input.shape), dtypes.int64)
    return _fill_with(input, value, label)


def bernoulli_(input, p=0.5, *, generator=None):
    if isinstance(p, Tensor):
        probs = np.broadcast_to(p.detach().numpy().astype(np.float64), tuple(input.shape))
        _check_probabilities(probs)
        label = "BernoulliBackward1"
    else:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")
        probs, label = float(p), "BernoulliBackward2"
    return _fill_with(input, _rng(generator).random(tuple(input.shape)) < probs, label)

