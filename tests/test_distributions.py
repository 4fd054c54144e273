"""gradwire.distributions against torch.distributions: densities, entropies, moments, KL divergences and their
gradients; reprs, shapes and argument and support errors; sample shapes and dtypes (values come from gradwire's
generator, so they are not compared)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from torch_diff import outcomes

pytestmark = pytest.mark.usefixtures("session")


def _program(lib):
    D = lib.distributions
    loc = lib.tensor([0.0, 1.0], requires_grad=True); scale = lib.tensor([1.0, 2.0], requires_grad=True)
    n = D.Normal(loc, scale); v = lib.tensor([0.5, -1.0])
    u = D.Uniform(lib.tensor([0.0, -1.0]), lib.tensor([1.0, 3.0]))
    b = D.Bernoulli(probs=lib.tensor([0.2, 0.9])); bl = D.Bernoulli(logits=lib.tensor([0.3, -2.0]))
    c = D.Categorical(probs=lib.tensor([[0.2, 0.3, 0.5], [1.0, 1.0, 2.0]])); cl = D.Categorical(logits=lib.tensor([1.0, 2.0, 0.5]))
    m = D.Multinomial(10, lib.tensor([0.2, 0.3, 0.5]))
    out = [repr(n), repr(u), repr(b), repr(bl), repr(c), repr(cl), repr(m), tuple(n.batch_shape), tuple(c.batch_shape), tuple(m.event_shape)]
    lp = n.log_prob(v); lp.sum().backward()
    vals = [lp, n.entropy(), n.cdf(v), n.icdf(lib.tensor([0.3, 0.9])), n.mean, n.stddev, n.variance, u.log_prob(lib.tensor([0.5, 2.5])), u.entropy(), u.mean, u.variance, u.cdf(lib.tensor([0.5, 0.0])),
            b.log_prob(lib.tensor([1.0, 0.0])), b.entropy(), b.mean, b.variance, bl.probs, bl.log_prob(lib.tensor([0.0, 1.0])),
            c.log_prob(lib.tensor([2, 0])), c.entropy(), c.probs, c.logits, cl.probs, cl.log_prob(lib.tensor(1)), m.mean, m.variance,
            D.kl_divergence(n, D.Normal(lib.tensor([1.0, 0.0]), lib.tensor([0.5, 1.0]))), D.kl_divergence(c, D.Categorical(probs=lib.tensor([0.5, 0.25, 0.25]))),
            D.kl_divergence(b, D.Bernoulli(probs=lib.tensor([0.5, 0.5]))), D.kl_divergence(u, D.Uniform(lib.tensor([-1.0, -2.0]), lib.tensor([2.0, 4.0]))), loc.grad, scale.grad]
    out += [np.round(x.detach().numpy().astype(np.float64), 5).tolist() for x in vals]
    out += [tuple(n.sample().shape), tuple(n.sample((3,)).shape), tuple(n.rsample((2, 4)).shape), n.rsample().requires_grad, n.sample().requires_grad,
            tuple(c.sample().shape), tuple(c.sample((5,)).shape), str(c.sample().dtype), tuple(b.sample((2,)).shape), tuple(m.sample().shape), tuple(m.sample((4,)).shape), float(m.sample().sum()),
            tuple(u.sample((3,)).shape), tuple(D.multinomial.Multinomial(1, lib.tensor([0.5, 0.5])).sample((6,)).shape)]
    out += outcomes((lambda: D.Normal(lib.tensor([0.0]), lib.tensor([-1.0])), lambda: D.Bernoulli(probs=lib.tensor([1.5])), lambda: D.Categorical(probs=lib.tensor([-0.1, 1.1])),
                     lambda: D.Uniform(lib.tensor([1.0]), lib.tensor([0.0])), lambda: D.Bernoulli(), lambda: D.Bernoulli(probs=lib.tensor(0.3), logits=lib.tensor(0.1)),
                     lambda: repr(D.Normal(0.0, 1.0)), lambda: str(D.Normal(0.0, 1.0).log_prob(lib.tensor([1.0])).dtype), lambda: repr(D.Bernoulli(probs=lib.tensor(0.3))), lambda: repr(D.Uniform(0.0, 1.0))))
    return out


def test_distributions_as_torch():
    assert _program(gw) == _program(torch)


def test_values_outside_the_support_are_refused_as_torch():
    def program(lib):
        D = lib.distributions
        return outcomes((lambda: D.Bernoulli(probs=lib.tensor([0.2])).log_prob(lib.tensor([0.5])),
                         lambda: D.Categorical(probs=lib.tensor([0.2, 0.8])).log_prob(lib.tensor([2])),
                         lambda: D.Normal(0.0, 1.0).cdf(lib.tensor([float("nan")])),
                         lambda: D.Normal(0.0, 1.0).log_prob(lib.tensor([float("inf")])).tolist(),
                         lambda: D.Uniform(lib.tensor([0.0]), lib.tensor([1.0])).log_prob(lib.tensor([1.5])),
                         lambda: repr(D.Normal(0.0, 1.0, validate_args=False).cdf(lib.tensor([float("nan")])))))
    assert program(gw) == program(torch)
