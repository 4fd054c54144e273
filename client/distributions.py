"""torch.distributions' common distributions: Normal, Uniform, Bernoulli, Categorical, Multinomial and their
KL divergences, with PyTorch's formulas, shapes, reprs and argument checks.

Densities, entropies and moments are ops like any other (differentiable, sent with the next request); samples
come from gradwire's generator, so their values differ from PyTorch's for a seed, as gw.randn's do. Arguments
are checked as PyTorch checks them (validate_args) when the client holds their values; a parameter still to be
computed on the server is not read just to check it.
"""
from __future__ import annotations

import math
import types

import numpy as np

import gradwire as gw
from gradwire.tensor import Size, Tensor

__all__ = ["Distribution", "Normal", "Uniform", "Bernoulli", "Categorical", "Multinomial", "kl_divergence",
           "constraints"]


# -- constraints ---------------------------------------------------------------------------------------------
class _Constraint:
    def check(self, v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}()"


class _Real(_Constraint):
    def check(self, v):
        return v == v


class _GreaterThan(_Constraint):
    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, v):
        return v > self.lower_bound

    def __repr__(self) -> str:
        return f"GreaterThan(lower_bound={self.lower_bound})"


class _Interval(_Constraint):
    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, v):
        return (self.lower_bound <= v) & (v <= self.upper_bound)

    def __repr__(self) -> str:
        return f"Interval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _Simplex(_Constraint):
    def check(self, v):
        return np.all(v >= 0, axis=-1) & (np.abs(v.sum(-1) - 1) < 1e-6)


class _LessThan(_Constraint):
    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, v):
        bound = _held(self.upper_bound)
        return np.ones(np.shape(v), bool) if bound is None else v < bound

    def __repr__(self) -> str:
        return f"LessThan(upper_bound={self.upper_bound})"


class _Boolean(_Constraint):
    def check(self, v):
        return (v == 0) | (v == 1)


class _IntegerInterval(_Constraint):
    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, v):
        return (v % 1 == 0) & (self.lower_bound <= v) & (v <= self.upper_bound)

    def __repr__(self) -> str:
        return f"IntegerInterval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _Bounds(_Interval):
    """An interval whose bounds are tensors (Uniform's support)."""

    def check(self, v):
        lo, hi = _held(self.lower_bound), _held(self.upper_bound)
        if lo is None or hi is None:
            return np.ones(np.shape(v), bool)
        return (lo <= v) & (v <= hi)


class constraints:      # noqa: N801  (torch.distributions.constraints' names)
    real = _Real()
    positive = _GreaterThan(0.0)
    unit_interval = _Interval(0.0, 1.0)
    simplex = _Simplex()
    boolean = _Boolean()
    less_than = _LessThan
    greater_than = _GreaterThan
    interval = _Interval
    integer_interval = _IntegerInterval


def _broadcast_all(*values) -> list:
    """PyTorch's broadcast_all: numbers become tensors of the tensors' dtype (the default float without one)."""
    dtype = next((v.dtype for v in values if isinstance(v, Tensor)), gw.float32)
    tensors = [v if isinstance(v, Tensor) else gw.tensor(float(v), dtype=dtype) for v in values]
    return list(gw.broadcast_tensors(*tensors))


def _clamp_probs(p: Tensor) -> Tensor:
    eps = gw.finfo(p.dtype).eps
    return p.clamp(min=eps, max=1 - eps)


class Distribution:
    """What every distribution shares: shapes, the argument checks, sample_shape handling, the repr."""
    arg_constraints: dict = {}
    has_rsample = False
    _shown: tuple | None = None        # the parameters the repr names (the ones given), else every one set

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None, given=None):
        """given: {parameter: the value as passed} to check, where the client holds it (default: the attributes)."""
        self._batch_shape, self._event_shape = Size(batch_shape), Size(event_shape)
        self._validate = validate_args is None or bool(validate_args)
        if self._validate:
            for name, constraint in self.arg_constraints.items():
                raw = (given or {}).get(name, self.__dict__.get(name))
                values = _held(raw)
                if values is None:
                    continue      # not given, or still to be computed on the server: not read just to check it
                if not np.all(constraint.check(values)):
                    value = self.__dict__[name]
                    raise ValueError(f"Expected parameter {name} (Tensor of shape {tuple(value.shape)}) of distribution "
                                     f"{self!r} to satisfy the constraint {constraint!r}, but found invalid values:\n"
                                     f"{value}")

    def _validate_sample(self, value) -> None:
        """PyTorch's check that a value lies in the support (values the client holds)."""
        if not self._validate:
            return
        values = _held(value)
        if values is not None and not np.all(self.support.check(values)):
            raise ValueError(f"Expected value argument (Tensor of shape {tuple(value.shape)}) to be within the support "
                             f"({self.support!r}) of the distribution {self!r}, but found invalid values:\n{value}")

    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> tuple:
        return tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape)

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def sample(self, sample_shape=()):
        with gw.no_grad():
            return self.rsample(sample_shape)

    def sample_n(self, n: int):
        return self.sample((n,))

    def __repr__(self) -> str:
        names = [k for k in self.arg_constraints if k in self.__dict__ and (self._shown is None or k in self._shown)]
        args = ", ".join(f"{p}: {self.__dict__[p] if self.__dict__[p].numel() == 1 else self.__dict__[p].size()}"
                         for p in names)
        return f"{type(self).__name__}({args})"


def _held(x):
    """A parameter's values as NumPy, when the client holds them (numbers included), else None."""
    if isinstance(x, Tensor):
        return None if x._node.value is None else np.asarray(x._node.value)
    return None if x is None else np.asarray(x, dtype=np.float64)


class Normal(Distribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast_all(loc, scale)
        super().__init__(self.loc.shape, (), validate_args, {"loc": loc, "scale": scale})

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale.pow(2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = gw.randn(*shape, dtype=self.loc.dtype) if shape else gw.randn((), dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    support = constraints.real

    def log_prob(self, value):
        self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value):
        self._validate_sample(value)
        return 0.5 * (1 + gw.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def icdf(self, value):
        return self.loc + self.scale * gw.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + gw.log(self.scale)


class Uniform(Distribution):
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = _broadcast_all(low, high)
        self.arg_constraints = {"low": constraints.less_than(high), "high": constraints.real}
        super().__init__(self.low.shape, (), validate_args, {"low": low, "high": high})

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def variance(self):
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        rand = gw.rand(*shape, dtype=self.low.dtype) if shape else gw.rand((), dtype=self.low.dtype)
        return self.low + rand * (self.high - self.low)

    @property
    def support(self):
        return _Bounds(self.low, self.high)

    def log_prob(self, value):
        self._validate_sample(value)
        lb = self.low.le(value).type_as(self.low)
        ub = self.high.gt(value).type_as(self.low)
        return gw.log(lb.mul(ub)) - gw.log(self.high - self.low)

    def cdf(self, value):
        self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def entropy(self):
        return gw.log(self.high - self.low)


def _one_of(probs, logits) -> None:
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


class Bernoulli(Distribution):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        self._shown = ("probs",) if probs is not None else ("logits",)
        if probs is not None:
            (self.probs,) = _broadcast_all(probs)
            ps = _clamp_probs(self.probs)
            self.logits = gw.log(ps) - gw.log1p(-ps)
        else:
            (self.logits,) = _broadcast_all(logits)
            self.probs = gw.sigmoid(self.logits)
        super().__init__(self.probs.shape, (), validate_args, {"probs": probs, "logits": logits})

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        with gw.no_grad():
            return gw.bernoulli(self.probs.expand(*self._extended_shape(sample_shape)))

    support = constraints.boolean

    def log_prob(self, value):
        self._validate_sample(value)
        logits, value = _broadcast_all(self.logits, value)
        return -gw.nn.functional.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return gw.nn.functional.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Categorical(Distribution):
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real}

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        given = probs if probs is not None else logits
        if given.ndim < 1:
            raise ValueError(f"`{'probs' if probs is not None else 'logits'}` parameter must be at least "
                             "one-dimensional.")
        self._shown = ("probs",) if probs is not None else ("logits",)
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.logits = gw.log(_clamp_probs(self.probs))
        else:
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
            self.probs = gw.softmax(self.logits, -1)
        self._num_events = given.shape[-1]
        raw = _held(probs)      # PyTorch checks the normalized probs
        super().__init__(given.shape[:-1], (), validate_args,
                         {"probs": None if raw is None else raw / raw.sum(-1, keepdims=True), "logits": logits})

    @property
    def param_shape(self) -> Size:
        return self.probs.shape

    @property
    def mean(self):
        return gw.full(self._extended_shape(), math.nan, dtype=self.probs.dtype)

    @property
    def variance(self):
        return gw.full(self._extended_shape(), math.nan, dtype=self.probs.dtype)

    def sample(self, sample_shape=()):
        shape = tuple(sample_shape)
        n = math.prod(shape) if shape else 1
        with gw.no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)
            samples_2d = gw.multinomial(probs_2d, n, True).T
            return samples_2d.reshape(self._extended_shape(shape))

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    def log_prob(self, value):
        self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = gw.broadcast_tensors(value, self.logits)
        value = value[..., :1]
        return log_pmf.gather(-1, value).squeeze(-1)

    def entropy(self):
        logits = gw.clamp(self.logits, min=gw.finfo(self.logits.dtype).min)
        return -(logits * self.probs).sum(-1)


class Multinomial(Distribution):
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits, validate_args=validate_args)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:], False)

    def __repr__(self) -> str:
        return "Multinomial()"

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = tuple(sample_shape)
        with gw.no_grad():
            samples = self._categorical.sample((self.total_count,) + shape)     # (n, *shape, *batch)
            onehot = gw.nn.functional.one_hot(samples, self._event_shape[0]).to(self.probs.dtype)
            return onehot.sum(0)

    def log_prob(self, value):
        raise NotImplementedError("Multinomial.log_prob needs lgamma, which gradwire does not have yet")


def kl_divergence(p: Distribution, q: Distribution):
    """KL(p || q) for the pairs PyTorch registers among these: Normal/Normal, Uniform/Uniform, Bernoulli/Bernoulli,
    Categorical/Categorical."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        var_ratio = (p.scale / q.scale).pow(2)
        t1 = ((p.loc - q.loc) / q.scale).pow(2)
        return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())
    if isinstance(p, Categorical) and isinstance(q, Categorical):
        t = p.probs * (p.logits - q.logits)
        t = gw.where((q.probs == 0).expand_as(t), gw.full_like(t, math.inf), t)
        t = gw.where((p.probs == 0).expand_as(t), gw.zeros_like(t), t)
        return t.sum(-1)
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        t1 = p.probs * (gw.nn.functional.softplus(-q.logits) - gw.nn.functional.softplus(-p.logits))
        t1 = gw.where(q.probs == 0, gw.full_like(t1, math.inf), t1)
        t1 = gw.where(p.probs == 0, gw.zeros_like(t1), t1)
        t2 = (1 - p.probs) * (gw.nn.functional.softplus(q.logits) - gw.nn.functional.softplus(p.logits))
        t2 = gw.where(q.probs == 1, gw.full_like(t2, math.inf), t2)
        t2 = gw.where(p.probs == 1, gw.zeros_like(t2), t2)
        return t1 + t2
    if isinstance(p, Uniform) and isinstance(q, Uniform):
        result = ((q.high - q.low) / (p.high - p.low)).log()
        outside = (q.low > p.low) | (q.high < p.high)
        return gw.where(outside, gw.full_like(result, math.inf), result)
    raise NotImplementedError(f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
                              f"{type(q).__name__}")


# torch.distributions' submodules, as scripts import them (`from torch.distributions import multinomial`)
normal = types.SimpleNamespace(Normal=Normal)
uniform = types.SimpleNamespace(Uniform=Uniform)
bernoulli = types.SimpleNamespace(Bernoulli=Bernoulli)
categorical = types.SimpleNamespace(Categorical=Categorical)
multinomial = types.SimpleNamespace(Multinomial=Multinomial)
kl = types.SimpleNamespace(kl_divergence=kl_divergence)
