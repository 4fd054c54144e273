"""gradwire.nn and gradwire.nn.functional against torch.nn: module bookkeeping, reprs, state dicts, every function's
values, gradients and grad_fn names, and layers with state (batch norm's running statistics)."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from torch_diff import outcomes, same_as_torch, same_outcomes_and_warnings

pytestmark = pytest.mark.usefixtures("session")
RNG = np.random.default_rng(7)


def mlp(lib, dtype=None):
    nn = lib.nn
    m = nn.Sequential(OrderedDict([("fc1", nn.Linear(4, 8)), ("act", nn.Tanh()), ("drop", nn.Dropout(0.0)),
                                   ("fc2", nn.Linear(8, 3, bias=False)), ("norm", nn.LayerNorm(3))]))
    return m.double() if dtype == "float64" else m


class Net:
    """The same custom module in both libraries: attributes, a buffer, a ModuleList and a ParameterList."""

    @staticmethod
    def make(lib):
        nn = lib.nn

        class Custom(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
                self.scales = nn.ParameterList([nn.Parameter(lib.ones(3)), nn.Parameter(lib.zeros(3))])
                self.head = nn.ModuleDict({"out": nn.Linear(3, 2), "aux": nn.Identity()})
                self.register_buffer("steps", lib.zeros(1))
                self.register_buffer("scratch", lib.zeros(2), persistent=False)
                self.shared = self.blocks[0]

            def forward(self, x):
                for block, scale in zip(self.blocks, self.scales):
                    x = block(x).relu() * scale
                return self.head["out"](self.head["aux"](x))
        return Custom()


def test_module_bookkeeping_matches_torch():
    t, g = Net.make(torch), Net.make(gw)
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [tuple(p.shape) for p in g.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert list(g.state_dict()) == list(t.state_dict())
    assert [n for n, _ in g.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in g.named_children()] == [n for n, _ in t.named_children()]
    assert len(list(g.modules())) == len(list(t.modules()))
    assert repr(g).replace("gradwire", "torch") == repr(t)
    assert g.training and not g.eval().training and not g.blocks[1].training
    assert g.train().head["out"].training
    assert isinstance(g.scales[0], gw.nn.Parameter) and isinstance(g.scales[0], gw.Tensor)


def _copies(lib):
    """What copy.deepcopy and pickle give for a trained model, a leaf with a grad, a non-leaf, a lazy layer."""
    import copy
    import pickle
    m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2))
    x = lib.ones(5, 3)
    m(x).sum().backward()
    m2 = copy.deepcopy(m)
    t = lib.tensor([1.0, 2.0], requires_grad=True)
    t.grad = lib.tensor([3.0, 4.0])
    shared = lib.ones(2, requires_grad=True)

    def edited():
        with lib.no_grad():
            m2[0].weight.add_(1.0)
        return (m2[0].weight - m[0].weight).abs().max().item(), m[0].weight.grad is not None

    def unpickled():
        r = pickle.loads(pickle.dumps([t, t * 2, m[0].weight]))
        return [(type(v).__name__, v.requires_grad, v.is_leaf, v.detach().numpy().tolist()) for v in r[:2]] + [
            type(r[2]).__name__, r[2].requires_grad, bool((r[2] == m[0].weight).all())]
    lazy = copy.deepcopy(lib.nn.LazyLinear(3))
    return outcomes([
        lambda: [(p2 is p, type(p2).__name__, p2.grad is None) for p, p2 in zip(m.parameters(), m2.parameters())],
        lambda: (m2(x) - m(x)).abs().max().item(), edited,
        lambda: [(c.requires_grad, c.is_leaf, c.grad.tolist(), c is t, c.tolist()) for c in [copy.deepcopy(t)]],
        lambda: copy.deepcopy(t * 2), lambda: len({id(c) for c in copy.deepcopy([shared, shared])}), unpickled,
        lambda: (type(lazy.weight).__name__, tuple(lazy(lib.ones(2, 5)).shape))])


def test_deepcopy_and_pickle_as_torch():
    """copy.deepcopy(model) (a best-so-far checkpoint, a target network) and pickling tensors work as in
    PyTorch: copies are new leaves with the values, Parameters without their grad, only leaves deep-copy."""
    assert _copies(gw) == _copies(torch)


def test_state_dict_from_torch_gives_torch_outputs():
    t, g = Net.make(torch), Net.make(gw)
    result = g.load_state_dict(t.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(g(gw.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    # from NumPy arrays too
    g2 = Net.make(gw)
    g2.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    np.testing.assert_allclose(g2(gw.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("change", ["missing", "unexpected", "size"])
def test_load_state_dict_errors_match_torch(change):
    messages = []
    for lib in (torch, gw):
        m = lib.nn.Linear(2, 3)
        sd = {k: v.detach().numpy() for k, v in lib.nn.Linear(2, 3).state_dict().items()}
        if change == "missing":
            del sd["bias"]
        elif change == "unexpected":
            sd["extra"] = np.zeros(1, np.float32)
        else:
            sd["weight"] = np.zeros((2, 2), np.float32)
        sd = {k: torch.tensor(v) for k, v in sd.items()} if lib is torch else sd
        with pytest.raises(RuntimeError) as e:
            m.load_state_dict(sd)
        messages.append(str(e.value))
        keys = m.load_state_dict(sd, strict=False) if change != "size" else None
        if keys is not None:
            messages.append((keys.missing_keys, keys.unexpected_keys))
    assert messages[:len(messages) // 2] == messages[len(messages) // 2:]


def test_parameter_and_module_errors_match_torch():
    def program(lib):
        out = []
        m = lib.nn.Linear(2, 2)
        for bad in (lambda: setattr(m, "weight", lib.zeros(2, 2)), lambda: m.register_parameter("a.b", None),
                    lambda: m.add_module("weight", lib.nn.Identity()), lambda: m.missing,
                    lambda: lib.nn.Module()(1), lambda: lib.optim.SGD([], lr=0.1),
                    lambda: lib.optim.SGD(m.parameters(), lr=-1), lambda: lib.optim.Adam(m.parameters(), betas=(1.0, 0.9)),
                    lambda: lib.optim.SGD(m.parameters(), lr=0.1, nesterov=True)):
            try:
                bad()
                out.append("no error")
            except Exception as e:  # noqa: BLE001
                out.append((type(e).__name__, str(e)))
        return out
    assert program(gw) == program(torch)
    assert repr(gw.nn.Parameter(gw.tensor([1.0, 2.0]))) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))


def test_parameter_containers_match_torch():
    made = [(lib.nn.ParameterDict({"w": lib.nn.Parameter(lib.ones(2)), "v": lib.nn.Parameter(lib.ones(2, 3))}),
             lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2)), lib.nn.Parameter(lib.zeros(1, 4))]))
            for lib in (gw, torch)]
    (gd, gl), (td, tl) = made
    assert repr(gd) == repr(td) and repr(gl) == repr(tl)
    assert list(gd) == list(td) and len(gl) == len(tl) and [tuple(p.shape) for p in gl] == [tuple(p.shape) for p in tl]


def test_reprs_match_torch():
    def make(lib):
        nn = lib.nn
        return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.LeakyReLU(0.2), nn.GELU(approximate="tanh"),
                             nn.Dropout(0.25), nn.Flatten(), nn.Embedding(10, 4, padding_idx=0), nn.LayerNorm(4),
                             nn.BatchNorm1d(4), nn.Softmax(dim=1), nn.ELU(), nn.Hardtanh(), nn.Identity(),
                             nn.CrossEntropyLoss(), nn.MSELoss(), nn.ModuleList([nn.Tanh()]))
    assert repr(make(gw)) == repr(make(torch))


X = RNG.standard_normal((4, 5))
T = RNG.integers(0, 5, 4)
P = RNG.uniform(0.05, 0.95, (4, 5))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                                  "kl_div", "margin"])
def test_pointwise_losses(name, reduction):
    y = RNG.standard_normal(X.shape)

    def fn(lib, x, y):
        F = lib.nn.functional
        if name == "binary_cross_entropy":
            out = F.binary_cross_entropy(x.sigmoid(), y.sigmoid(), reduction=reduction)
        elif name == "kl_div":
            out = F.kl_div(x.log_softmax(1), y.softmax(1), reduction=reduction)
        elif name == "margin":
            out = F.margin_ranking_loss(x, y, y.sign(), margin=0.3, reduction=reduction)
        else:
            out = getattr(F, name)(x, y, reduction=reduction)
        return out, out.grad_fn.name()
    same_as_torch(fn, X, y, second_order=name not in ("l1_loss", "margin"), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"ignore_index": 2}, {"label_smoothing": 0.2},
                                     {"weight": True, "ignore_index": 1, "label_smoothing": 0.1}])
def test_cross_entropy_and_nll(reduction, options):
    w = RNG.uniform(0.5, 2.0, 5)

    def fn(lib, x, t, w):
        F = lib.nn.functional
        kw = dict(options, reduction=reduction)
        if kw.pop("weight", False):
            kw["weight"] = w.detach()      # PyTorch refuses a weight that requires grad (tested below)
        ce = F.cross_entropy(x, t, **kw)
        kw.pop("label_smoothing", None)
        nll = F.nll_loss(x.log_softmax(1), t, **kw)
        return ce, nll, nll.grad_fn.name()
    same_as_torch(fn, X, T, w, second_order=True, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probabilities_and_spatial(smoothing):
    same_as_torch(lambda lib, x, p: lib.nn.functional.cross_entropy(x, p.softmax(1), label_smoothing=smoothing),
                  X, P, rtol=1e-9, atol=1e-12)
    x4 = RNG.standard_normal((2, 3, 2, 2))
    t4 = RNG.integers(0, 3, (2, 2, 2))
    for reduction in ("mean", "none"):
        same_as_torch(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t, reduction=reduction,
                                                                        label_smoothing=smoothing),
                      x4, t4, rtol=1e-9, atol=1e-12)


def test_log_softmax_and_cross_entropy_keep_their_precision_at_large_logits():
    # x - logsumexp(x) rounds the max into the log's sum and back: logits near 1e4 lost 2e-4 in float32.
    x = np.array([[10000.0, 10001.0, 9999.0], [50.0, 50.5, -3.0], [-1e4, 0.0, 1e4], [3e38, 3e38, 0.0]], np.float32)
    t = np.array([1, 0, 2, 1])
    same_as_torch(lambda lib, x, t: (lib.log_softmax(x, 1), lib.nn.functional.cross_entropy(x, t.long())),
                  x, t, rtol=1e-6, atol=1e-6)
    special = np.array([[np.inf, 1.0], [-np.inf, -np.inf], [np.nan, 1.0], [-np.inf, 0.0]], np.float32)
    same_as_torch(lambda lib, x: lib.log_softmax(x, 1), special, requires_grad=False)


def test_class_indices_out_of_range_are_errors_as_in_torch():
    def program(lib):
        F = lib.nn.functional
        return outcomes((lambda: F.cross_entropy(lib.zeros(2, 10), lib.tensor([0, 10])),
                         lambda: F.cross_entropy(lib.zeros(2, 10), lib.tensor([-1, 3])),     # not wrapped to class 9
                         lambda: F.nll_loss(lib.zeros(3, 4), lib.tensor([1, 7, -5])),          # the first one named
                         lambda: F.cross_entropy(lib.zeros(2, 3, 2, 2), lib.tensor([[[0, 5], [1, 1]], [[0, 0], [0, -2]]])),
                         lambda: F.cross_entropy(lib.zeros(10), lib.tensor(12)),
                         lambda: F.cross_entropy(lib.zeros(2, 10), lib.tensor([0, 10]), label_smoothing=0.1),
                         lambda: F.cross_entropy(lib.zeros(2, 10), lib.tensor([-100, 3])).item(),   # ignore_index
                         lambda: F.one_hot(lib.tensor([12]), 10),
                         lambda: F.one_hot(lib.tensor([-1]), 10),
                         lambda: F.one_hot(lib.tensor([3, -1])),
                         lambda: F.one_hot(lib.tensor([3, 1]) * 4, 7),       # values the client does not hold
                         lambda: F.one_hot(lib.tensor([3, 1]) * 2, 7).tolist()))
    assert program(gw) == program(torch)
    # A target the server computes: a negative class fails there too (later, as the server's error), never
    # wraps around to the last class.
    with pytest.raises(RuntimeError, match="out of bounds"):
        gw.nn.functional.cross_entropy(gw.zeros(2, 10), gw.tensor([0, 2]) - 1).item()


def test_what_learners_print_and_the_errors_they_meet_match_torch():
    """Cases met running the d2l chapters' programs against both libraries: formatting, conversions, shapes,
    error types and messages of losses, layers and writes, load_state_dict's answer."""
    def program(lib):
        F, nn = lib.nn.functional, lib.nn
        net = nn.Linear(2, 1)
        w = lib.ones(2, requires_grad=True)

        def assign():
            w[:] = 0.0

        out = outcomes((lambda: F.cross_entropy(lib.ones(2, 3), lib.tensor([0.0, 1.0])),
                        lambda: F.cross_entropy(lib.ones(2, 3), lib.ones(2, 4)),
                        lambda: F.cross_entropy(lib.ones(2, 3), lib.tensor([0, 1], dtype=lib.int32)),
                        lambda: F.nll_loss(lib.ones(2, 3, 4, 4), lib.ones(2, 4, dtype=lib.int64)),
                        lambda: float(lib.tensor([1.0, 2.0])), lambda: int(lib.tensor([1.0, 2.0])),
                        lambda: f"{lib.tensor(2.5)}|{lib.tensor(2.5):.3f}|{lib.tensor(3):d}|"
                                f"{lib.tensor(2.5, requires_grad=True)}|{lib.tensor([1.0, 2.0])}",
                        lambda: f"{lib.tensor([1.0, 2.0]):.2f}",
                        lambda: nn.Linear(3, 1)(lib.ones(5, 3, dtype=lib.float64)),
                        lambda: F.linear(lib.ones(5, 3), lib.ones(1, 3), lib.ones(1, dtype=lib.float64)),
                        lambda: lib.ones(2).mT,
                        lambda: repr((1, 1) + lib.ones(2, 3).shape), lambda: repr(lib.ones(2, 3).shape[1:] * 2),
                        lambda: nn.AdaptiveAvgPool2d((1, 1))(lib.ones(4, 4)),
                        lambda: nn.BatchNorm2d(4)(lib.ones(2, 3, 4, 4)),
                        lambda: nn.Conv2d(3, 4, 3)(lib.ones(1, 3, 8, 8, dtype=lib.float64)),
                        lambda: nn.Conv2d(3, 4, 3)(lib.ones(1, 3, 8, 8, dtype=lib.int64)),
                        assign,
                        lambda: repr(net.load_state_dict(net.state_dict())),
                        lambda: repr(net.load_state_dict({"weight": lib.ones(1, 2)}, strict=False)),
                        lambda: type(net.weight).__module__.split(".", 1)[1] + "." + type(net.weight).__name__))
        a = lib.ones(2, 3, requires_grad=True) * 1
        a[:] = lib.zeros(3)
        b = lib.ones(2, 3, requires_grad=True) * 1
        b[:, :] = 5.0
        c = lib.ones(2, 3, requires_grad=True) * 1
        c[:1] = 5.0
        out.append([t.grad_fn.name() for t in (a, b, c)])
        return out
    assert program(gw) == program(torch)


def test_lazy_layers_take_their_sizes_from_the_first_input_and_become_the_plain_layers():
    def program(lib):
        nn = lib.nn
        out = []
        lin, conv, bn = nn.LazyLinear(10), nn.LazyConv2d(6, 5, padding=2), nn.LazyBatchNorm2d()
        tconv = nn.LazyConvTranspose2d(4, 3, stride=2)
        out += [repr(m) for m in (lin, lin.weight, conv, bn, tconv)] + [list(bn.state_dict())]
        out += outcomes((lambda: lin.weight.shape, lambda: nn.LazyConv2d(6, 5)(lib.ones(8, 8)),
                         lambda: nn.LazyConv2d(6, 5, groups=2)(lib.ones(1, 3, 8, 8))))
        lin(lib.ones(3, 7))
        conv(lib.ones(2, 3, 8, 8))
        bn(lib.ones(2, 4, 3, 3) * lib.arange(4.0).reshape(1, 4, 1, 1))
        tconv(lib.ones(1, 3, 5, 5))
        for m in (lin, conv, bn, tconv):
            out += [repr(m), type(m).__name__, [(n, tuple(p.shape), type(p).__name__) for n, p in m.named_parameters()]]
        out += [bn.running_mean.tolist(), bn.running_var.tolist(), int(bn.num_batches_tracked)]
        out += [tuple(nn.LazyBatchNorm1d()(lib.ones(4, 3)).shape), tuple(nn.LazyConv1d(2, 3)(lib.ones(4, 9)).shape),
                tuple(nn.LazyLinear(3, bias=False)(lib.ones(2, 5)).shape)]
        return out
    assert program(gw) == program(torch)


def test_a_lazy_lenet_trains_as_torchs_with_an_optimizer_made_before_double_and_its_first_call():
    def lenet(lib):
        nn = lib.nn
        return nn.Sequential(nn.LazyConv2d(6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.LazyConv2d(16, 5),
                             nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(), nn.LazyLinear(120), nn.Sigmoid(),
                             nn.LazyLinear(10))
    X = RNG.standard_normal((4, 1, 28, 28))
    Y = RNG.integers(0, 10, 4)
    t_net, g_net = lenet(torch).double(), lenet(gw)
    # Made before .double() and before the first call: it holds the placeholders, which keep their identity.
    g_opt = gw.optim.SGD(g_net.parameters(), lr=0.1, momentum=0.9)
    g_net.double()
    t_net(torch.tensor(X))
    g_net(gw.tensor(X))
    g_net.load_state_dict({k: v.detach().numpy() for k, v in t_net.state_dict().items()})
    assert repr(g_net) == repr(t_net)
    t_opt = torch.optim.SGD(t_net.parameters(), lr=0.1, momentum=0.9)
    for lib, net, opt in ((torch, t_net, t_opt), (gw, g_net, g_opt)):
        for _ in range(3):
            opt.zero_grad()
            lib.nn.functional.cross_entropy(net(lib.tensor(X)), lib.tensor(Y)).backward()
            opt.step()
    for (name, a), b in zip(g_net.state_dict().items(), t_net.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("clip", [("norm", 2.0, 1.0), ("norm", float("inf"), 0.5), ("norm", 1.0, 1e4),
                                  ("value", 0.3), ("norm_nonfinite", 2.0, 1.0)])
def test_gradient_clipping_as_torch_nn_utils(clip):
    def run(lib):
        rng = np.random.default_rng(0)
        net = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2)).double()
        with lib.no_grad():
            for p in net.parameters():
                p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape))))
        scale = float("inf") if clip[0] == "norm_nonfinite" else 1.0
        (net(lib.tensor(rng.standard_normal((5, 3)))) ** 2 * scale).sum().backward()
        try:
            if clip[0] == "value":
                out = [lib.nn.utils.clip_grad_value_(net.parameters(), clip[1])]
            else:
                out = [float(lib.nn.utils.clip_grad_norm_(net.parameters(), clip[2], clip[1],
                                                          error_if_nonfinite=clip[0] == "norm_nonfinite"))]
        except RuntimeError as e:
            return [str(e)]
        return out + [p.grad.numpy() for p in net.parameters()] + [
            lib.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()]
    ours, theirs = run(gw), run(torch)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        if isinstance(b, str) or b is None:
            assert a == b
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_weights_that_require_grad_are_refused_as_torch():
    w = RNG.uniform(0.5, 2.0, 5)
    for fn in (lambda lib, x, w: lib.nn.functional.cross_entropy(x, lib.tensor(T), weight=w),
               lambda lib, x, w: lib.nn.functional.binary_cross_entropy(x.sigmoid(), x.detach().sigmoid(), weight=w),
               lambda lib, x, w: lib.nn.functional.binary_cross_entropy_with_logits(x, x.detach().sigmoid(), w),
               lambda lib, x, w: lib.nn.functional.binary_cross_entropy_with_logits(x, x.detach().sigmoid(),
                                                                                    pos_weight=w)):
        same_as_torch(fn, X, w)


def test_bce_with_logits_pos_weight_and_extremes():
    x = np.array([[-200.0, -3.0, 0.0, 4.0, 300.0]])
    y = np.array([[0.0, 1.0, 0.5, 1.0, 0.0]])
    pw = np.array([1.0, 2.0, 0.5, 3.0, 1.0])
    for kw in ({}, {"pos_weight": True}):
        same_as_torch(lambda lib, x, y, pw: lib.nn.functional.binary_cross_entropy_with_logits(
            x, y, pos_weight=pw.detach() if kw else None), x, y, pw, rtol=1e-9, atol=1e-12)
    p = np.array([0.0, 1.0, 0.5])
    same_as_torch(lambda lib, p, y: lib.nn.functional.binary_cross_entropy(p, y), p, np.array([0.0, 0.0, 1.0]))


def test_similarities_and_distances():
    y = RNG.standard_normal(X.shape)
    same_as_torch(lambda lib, x, y: (lib.nn.functional.cosine_similarity(x, y),
                                     lib.nn.functional.cosine_similarity(x, y, dim=0),
                                     lib.nn.functional.pairwise_distance(x, y),
                                     lib.nn.functional.pairwise_distance(x, y, p=1.0, keepdim=True)),
                  X, y, second_order=True, rtol=1e-9, atol=1e-12)


def test_linear_layer_norm_embedding():
    w = RNG.standard_normal((3, 5))
    b = RNG.standard_normal(3)
    same_as_torch(lambda lib, x, w, b: [lib.nn.functional.linear(x, w, b), lib.nn.functional.linear(x, w),
                                        lib.nn.functional.linear(x[0], w, b),
                                        lib.nn.functional.linear(x.reshape(2, 2, 5), w, b)],
                  X, w, b, second_order=True, rtol=1e-9, atol=1e-12)
    same_as_torch(lambda lib, x, w, b: [lib.nn.functional.layer_norm(x, (5,), w, b),
                                        lib.nn.functional.layer_norm(x, [5], w),
                                        lib.nn.functional.layer_norm(x.reshape(2, 2, 5), (2, 5))],
                  X, RNG.standard_normal(5), RNG.standard_normal(5), second_order=True, rtol=1e-9, atol=1e-12)
    emb = RNG.standard_normal((6, 3))
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    same_as_torch(lambda lib, e, i: [lib.nn.functional.embedding(i, e), lib.nn.functional.embedding(i, e, padding_idx=2)],
                  emb, idx, rtol=1e-12, atol=1e-12)
    same_as_torch(lambda lib, i: lib.nn.functional.one_hot(i, 7), idx)
    same_as_torch(lambda lib, i: lib.nn.functional.one_hot(i), idx)


@pytest.mark.parametrize("dims,cls", [((6, 3), "BatchNorm1d"), ((4, 3, 5), "BatchNorm1d"), ((4, 3, 2, 2), "BatchNorm2d")])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_training_and_running_stats(dims, cls, momentum):
    t = getattr(torch.nn, cls)(3, momentum=momentum).double()
    g = getattr(gw.nn, cls)(3, momentum=momentum).double()
    for step in range(3):
        x = RNG.standard_normal(dims) * (step + 1) + step
        yt = t(torch.tensor(x, requires_grad=True))
        yg = g(gw.tensor(x, requires_grad=True))
        np.testing.assert_allclose(yg.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for name, v in t.state_dict().items():
        np.testing.assert_allclose(g.state_dict()[name].numpy(), v.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    t.eval(), g.eval()
    x = RNG.standard_normal(dims)
    np.testing.assert_allclose(g(gw.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="expected"):
        g(gw.zeros(3))


def test_dropout():
    gw.manual_seed(3)
    x = gw.ones(20000, dtype=gw.float64, requires_grad=True)
    y = gw.nn.functional.dropout(x, 0.25)
    kept = (y.detach().numpy() != 0).mean()
    assert abs(kept - 0.75) < 0.02
    assert set(np.unique(y.detach().numpy())) <= {0.0, 1 / 0.75}
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    m = gw.nn.Dropout(0.5).eval()
    assert m(x) is x
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        gw.nn.Dropout(1.5)


def test_init_distributions_and_gains():
    for nl, param in (("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("selu", None), ("linear", None)):
        assert gw.nn.init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)
    w = gw.zeros(400, 300)
    assert gw.nn.init._calculate_fan_in_and_fan_out(gw.zeros(4, 3, 2, 2)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(4, 3, 2, 2))
    checks = [(gw.nn.init.kaiming_uniform_, {}, (2 / 300) ** 0.5), (gw.nn.init.kaiming_normal_, {"mode": "fan_out"},
              (2 / 400) ** 0.5), (gw.nn.init.xavier_uniform_, {}, (2 / 700) ** 0.5),
              (gw.nn.init.xavier_normal_, {"gain": 2.0}, 2 * (2 / 700) ** 0.5), (gw.nn.init.normal_, {"std": 0.3}, 0.3)]
    for fn, kw, std in checks:
        a = fn(w, **kw).numpy()
        assert abs(a.mean()) < 4 * std / 346 and abs(a.std() / std - 1) < 0.02, fn.__name__
    a = gw.nn.init.trunc_normal_(w, std=1.0, a=-1.0, b=1.5).numpy()
    assert a.min() >= -1.0 and a.max() <= 1.5 and a.std() > 0.5
    q = gw.nn.init.orthogonal_(gw.zeros(3, 5)).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-6)
    assert (gw.nn.init.constant_(gw.zeros(2), 0.5).numpy() == 0.5).all()
    lin = gw.nn.Linear(300, 10)
    bound = 1 / 300 ** 0.5
    assert np.abs(lin.weight.detach().numpy()).max() <= bound and np.abs(lin.bias.detach().numpy()).max() <= bound
    assert lin.weight.requires_grad and lin.weight.is_leaf and lin.weight.grad is None


@pytest.mark.parametrize("mode,dims", [("nearest", 1), ("nearest", 2), ("nearest-exact", 2), ("area", 1), ("area", 2),
                                       ("area", 3), ("linear", 1),
                                       ("bilinear", 2), ("bicubic", 2), ("trilinear", 3)])
@pytest.mark.parametrize("how", ["size-up", "size-down", "scale", "align"])
def test_interpolate(mode, dims, how):
    x = RNG.standard_normal((2, 2) + (5, 4, 3)[:dims])
    if how == "align" and mode.startswith(("nearest", "area")):
        kw = {"size": 7}
    else:
        kw = {"size-up": {"size": (7, 6, 4)[:dims]}, "size-down": {"size": (3, 2, 2)[:dims]},
              "scale": {"scale_factor": 1.7}, "align": {"size": (7, 3, 5)[:dims], "align_corners": True}}[how]

    def fn(lib, x):
        out = lib.nn.functional.interpolate(x, mode=mode, **kw)
        return out, out.grad_fn.name()
    same_as_torch(fn, x, second_order=mode not in ("nearest", "area"), rtol=1e-9, atol=1e-12)


def test_interpolate_errors_and_nan_stays_local():
    x = RNG.standard_normal((1, 1, 4, 4))
    for kw in ({"mode": "bilinear"}, {"mode": "linear", "size": 3}, {"size": 3, "scale_factor": 2},
               {"mode": "nearest", "size": 3, "align_corners": True}):
        same_as_torch(lambda lib, x: lib.nn.functional.interpolate(x, **kw), x)
    x[0, 0, 0, 0] = np.nan
    same_as_torch(lambda lib, x: lib.nn.functional.interpolate(x, size=(8, 8), mode="bilinear"), x)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("mode,dims", [("nearest", 1), ("nearest", 2), ("nearest", 3), ("nearest-exact", 2),
                                       ("linear", 1), ("bilinear", 2), ("bicubic", 2), ("trilinear", 3),
                                       ("area", 1), ("area", 2), ("area", 3)])
def test_interpolate_integer_inputs(dtype, mode, dims):
    """uint8 copies samples in the nearest modes; the other integer and bool cases are PyTorch's
    NotImplementedError (they computed with weights cast to the integer dtype: zeros)."""
    if dtype == "uint8" and mode in ("bilinear", "bicubic"):
        with pytest.raises(NotImplementedError, match="uint8"):      # PyTorch's fixed-point kernel: not reproduced
            gw.nn.functional.interpolate(gw.ones((1, 1, 4, 4), dtype=gw.uint8), size=3, mode=mode)
        return
    x = (RNG.random((1, 2) + (5, 4, 3)[:dims]) * 9).astype(dtype)
    same_as_torch(lambda lib, x: lib.nn.functional.interpolate(x, size=(7, 3, 2)[:dims], mode=mode), x)


@pytest.mark.parametrize("dtype", ["int64", "uint8", "bool"])
@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_adaptive_pools_refuse_integer_inputs(dtype, kind, dims):
    x = (RNG.random((1, 2) + (5, 4, 3)[:dims]) * 9).astype(dtype)
    same_as_torch(lambda lib, x: getattr(lib.nn.functional, f"adaptive_{kind}_pool{dims}d")(x, 2), x)


def test_group_instance_norm_bilinear_attention():
    x = RNG.standard_normal((2, 4, 3, 2))
    w, b = RNG.standard_normal(4), RNG.standard_normal(4)
    same_as_torch(lambda lib, x, w, b: [lib.nn.functional.group_norm(x, 2, w, b), lib.nn.functional.group_norm(x, 4),
                                        lib.nn.functional.instance_norm(x, weight=w, bias=b)],
                  x, w, b, second_order=True, rtol=1e-9, atol=1e-12)
    same_as_torch(lambda lib, a, c, w, b: lib.nn.functional.bilinear(a, c, w, b), RNG.standard_normal((3, 2)),
                  RNG.standard_normal((3, 4)), RNG.standard_normal((5, 2, 4)), RNG.standard_normal(5),
                  second_order=True, rtol=1e-9, atol=1e-12)
    q, k, v = (RNG.standard_normal((2, 3, 4)) for _ in range(3))
    mask = RNG.random((3, 3)) < 0.7
    np.fill_diagonal(mask, True)
    for kw in ({}, {"is_causal": True}, {"scale": 0.3}):
        same_as_torch(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v, **kw), q, k, v,
                      second_order=True, rtol=1e-9, atol=1e-12)
    same_as_torch(lambda lib, q, k, v, m: [lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m),
                                           lib.nn.functional.scaled_dot_product_attention(q, k, v,
                                                                                          attn_mask=m.double() * 0.5)],
                  q, k, v, mask, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("heads", [(6, 2, 2), (6, 2, 3), (6, 1, 1), (4, 4, 4), (6, 4, 4), (5, 2, 2)])
def test_scaled_dot_product_attention_grouped_query_heads(heads):
    """enable_gqa: each key and value head serves its group of query heads (counts that do not divide the
    query's are PyTorch's RuntimeError), with gradients through the repeat."""
    hq, hk, hv = heads
    q, k, v = RNG.standard_normal((2, hq, 4, 8)), RNG.standard_normal((2, hk, 5, 8)), RNG.standard_normal((2, hv, 5, 3))
    same_as_torch(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                  q, k, v, second_order=True, rtol=1e-9, atol=1e-12)
    same_as_torch(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True,
                                                                                      is_causal=True), q, k, v)
    same_as_torch(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                  RNG.standard_normal((4, 8)), RNG.standard_normal((5, 8)), RNG.standard_normal((5, 3)))


def test_instance_norm_modules_match_torch():
    for cls, shape, kw in (("InstanceNorm1d", (2, 3, 5), {}), ("InstanceNorm2d", (2, 3, 4, 4),
                                                               {"affine": True, "track_running_stats": True}),
                           ("GroupNorm", (2, 4, 5), None)):
        t = getattr(torch.nn, cls)(*( (2, 4) if kw is None else (3,)), **(kw or {})).double()
        g = getattr(gw.nn, cls)(*( (2, 4) if kw is None else (3,)), **(kw or {})).double()
        g.load_state_dict(t.state_dict())
        for _ in range(2):
            x = RNG.standard_normal(shape)
            np.testing.assert_allclose(g(gw.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(),
                                       rtol=1e-10, atol=1e-12)
        for k, v in t.state_dict().items():
            np.testing.assert_allclose(g.state_dict()[k].numpy(), v.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)
        assert repr(g) == repr(t)


def test_checkpoints_move_between_torch_and_gradwire(tmp_path):
    t = mlp(torch)
    torch.save(t.state_dict(), tmp_path / "torch.pt")
    g = mlp(gw)
    g.load_state_dict(gw.load(tmp_path / "torch.pt"))
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(g(gw.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    gw.save(g.state_dict(), tmp_path / "gw.pt")
    t2 = mlp(torch)
    t2.load_state_dict(torch.load(tmp_path / "gw.pt"))
    for a, b in zip(t2.parameters(), t.parameters()):
        assert torch.equal(a, b)


def test_container_deletes_and_inserts_renumber_as_torch():
    def program(lib):
        nn = lib.nn
        s = nn.Sequential(nn.Tanh(), nn.ReLU(), nn.Sigmoid())
        del s[1]
        s.insert(0, nn.Identity())
        s.append(nn.ELU())
        m = nn.ModuleList([nn.Tanh(), nn.ReLU(), nn.Tanh()])
        del m[0]
        m.insert(1, nn.Sigmoid())
        return repr(s), list(s._modules), repr(m), list(m._modules), repr(s[1:])
    assert program(gw) == program(torch)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_more_losses_as_torch(reduction):
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    signs = np.where(rng.random((4, 5)) > 0.5, 1.0, -1.0)
    labels = (rng.random((4, 5)) > 0.5).astype(np.float64)
    def fn(lib, name):
        return getattr(lib.nn.functional, name)
    same_as_torch(lambda lib, x, s: fn(lib, "soft_margin_loss")(x, s.detach(), reduction=reduction), x * 5, signs,
                  second_order=True)
    same_as_torch(lambda lib, x, s: fn(lib, "soft_margin_loss")(x, s, reduction=reduction), x, signs)
    same_as_torch(lambda lib, x, t, w: [fn(lib, "multilabel_soft_margin_loss")(x, t, reduction=reduction),
                                        fn(lib, "multilabel_soft_margin_loss")(x, t, weight=w, reduction=reduction)],
                  x * 4, labels, rng.random(5))
    same_as_torch(lambda lib, x, s: [fn(lib, "hinge_embedding_loss")(x, s, reduction=reduction),
                                     fn(lib, "hinge_embedding_loss")(x, s, margin=0.3, reduction=reduction)],
                  x, signs)
    same_as_torch(lambda lib, a, b, s: [fn(lib, "cosine_embedding_loss")(a, b, s, reduction=reduction),
                                        fn(lib, "cosine_embedding_loss")(a, b, s, margin=0.2, reduction=reduction)],
                  x, y, signs[:, 0])
    same_as_torch(lambda lib, a, b: fn(lib, "cosine_embedding_loss")(a[0], b[0], lib.tensor(-1.0, dtype=a.dtype),
                                                                         reduction=reduction), x, y)
    z = rng.normal(size=(4, 5))
    same_as_torch(lambda lib, a, p, n: [fn(lib, "triplet_margin_loss")(a, p, n, reduction=reduction),
                                        fn(lib, "triplet_margin_loss")(a, p, n, margin=0.5, p=1, swap=True,
                                                                       reduction=reduction)], x, y, z)
    counts = rng.poisson(3.0, (4, 5)).astype(np.float64)
    same_as_torch(lambda lib, x, t: [fn(lib, "poisson_nll_loss")(x, t, reduction=reduction),
                                     fn(lib, "poisson_nll_loss")(x.abs(), t, log_input=False, full=True,
                                                                 reduction=reduction)], x, counts)


def test_more_loss_modules_and_errors_as_torch():
    def cases(lib):
        nn, F = lib.nn, lib.nn.functional
        x = lib.ones(3, 4)
        return outcomes([
            lambda: [repr(m) for m in (nn.SoftMarginLoss(), nn.MultiLabelSoftMarginLoss(), nn.HingeEmbeddingLoss(0.5),
                                       nn.CosineEmbeddingLoss(), nn.TripletMarginLoss(swap=True), nn.PoissonNLLLoss())],
            lambda: nn.TripletMarginLoss(margin=0), lambda: F.triplet_margin_loss(x, x, x, margin=-1.0),
            lambda: F.triplet_margin_loss(x, x, lib.ones(2, 3, 4)),
            lambda: F.cosine_embedding_loss(x, x, lib.ones(3, 1)), lambda: F.cosine_embedding_loss(x, x, lib.tensor(1.0)),
            lambda: F.cosine_embedding_loss(x[0], x[0], lib.ones(3)),
            lambda: F.poisson_nll_loss(x, x, reduction="avg"),
            lambda: nn.HingeEmbeddingLoss(reduction="none")(x, -x).tolist(),
            lambda: np.round(nn.SoftMarginLoss(reduce=False)(x, -x).numpy(), 5).tolist()])
    assert [str(c) for c in cases(gw)] == [str(c) for c in cases(torch)]


def test_rms_norm_as_torch():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 3, 4))
    same_as_torch(lambda lib, x, w: [lib.nn.functional.rms_norm(x, (4,)), lib.nn.functional.rms_norm(x, (3, 4), w),
                                     lib.nn.functional.rms_norm(x, [4], eps=1e-3)], x, rng.normal(size=(3, 4)),
                  second_order=True, rtol=1e-10, atol=1e-12)
    same_as_torch(lambda lib, x: lib.nn.functional.rms_norm(x, (4,)), x.astype(np.float32), rtol=1e-5, atol=1e-6)

    def cases(lib):
        m = lib.nn.RMSNorm([3, 4], eps=1e-6)
        return outcomes([lambda: repr(lib.nn.RMSNorm(4)), lambda: repr(m), lambda: repr(lib.nn.RMSNorm(4, elementwise_affine=False)),
                         lambda: [(n, tuple(p.shape)) for n, p in m.named_parameters()],
                         lambda: m(lib.ones(2, 3, 4)).tolist(), lambda: lib.nn.functional.rms_norm(lib.ones(2, 3), 3),
                         lambda: lib.nn.functional.rms_norm(lib.ones(2, 3), (2,))])
    assert [str(c) for c in cases(gw)] == [str(c) for c in cases(torch)]


def test_channel_dropout_zeroes_whole_channels_as_torch():
    gw.manual_seed(0)
    for fn, shape in ((gw.nn.functional.dropout1d, (8, 16, 5)), (gw.nn.functional.dropout2d, (8, 16, 3, 3)),
                      (gw.nn.functional.dropout3d, (8, 16, 2, 2, 2)), (gw.nn.functional.dropout1d, (16, 5))):
        x = gw.ones(*shape, requires_grad=True)
        y = fn(x, 0.25)
        y.sum().backward()
        v = y.detach().numpy().reshape(shape[:2] + (-1,) if len(shape) > 2 and shape != (16, 5) else shape[:1] + (-1,))
        assert set(np.unique(v)) <= {0.0, np.float32(1 / 0.75)}
        assert (v.min(-1) == v.max(-1)).all()                 # a channel is dropped whole or kept whole
        assert 0.1 < (v[..., 0] == 0).mean() < 0.45
        np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    x = gw.ones(2, 3, 4, 4)
    assert gw.nn.functional.dropout2d(x, 0.5, training=False) is x

    def cases(lib):
        F, nn = lib.nn.functional, lib.nn
        return outcomes([lambda: repr(nn.Dropout2d(0.3)), lambda: repr(nn.Dropout1d()), lambda: repr(nn.Dropout3d(inplace=True)),
                         lambda: F.dropout1d(lib.ones(2, 3, 4, 5)), lambda: F.dropout2d(lib.ones(2), p=1.5),
                         lambda: tuple(F.dropout2d(lib.ones(2, 3, 4)).shape), lambda: tuple(F.dropout3d(lib.ones(2, 3)).shape),
                         lambda: F.dropout2d(lib.ones(2, 3, 4, 4), 1.0).sum().item(),
                         lambda: nn.Dropout2d(0.5).eval()(lib.ones(2, 3, 2, 2)).sum().item()])
    same_outcomes_and_warnings(cases)


def test_pad_sequence_as_torch():
    rng = np.random.default_rng(13)
    a, b, c = rng.normal(size=(3, 2)), rng.normal(size=(1, 2)), rng.normal(size=(4, 2))
    same_as_torch(lambda lib, a, b, c: [lib.nn.utils.rnn.pad_sequence([a, b, c]),
                                        lib.nn.utils.rnn.pad_sequence([a, b, c], batch_first=True, padding_value=-2.0),
                                        lib.nn.utils.rnn.pad_sequence((a, b), padding_side="left")], a, b, c)
    assert [str(x) for x in outcomes([lambda: gw.nn.utils.rnn.pad_sequence([]),
                                      lambda: gw.nn.utils.rnn.pad_sequence([gw.ones(2)], padding_side="top")])] == \
        [str(x) for x in outcomes([lambda: torch.nn.utils.rnn.pad_sequence([]),
                                   lambda: torch.nn.utils.rnn.pad_sequence([torch.ones(2)], padding_side="top")])]
