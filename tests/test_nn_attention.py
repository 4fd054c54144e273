"""nn.MultiheadAttention and the Transformer modules against PyTorch: the same state dict loaded into both, the same
inputs; outputs, attention weights, gradients of the inputs and of every parameter, parameter names, reprs,
construction warnings and errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import session  # noqa: F401
from torch_diff import outcomes

L, S, N, E = 3, 4, 2, 8


def _run(lib, make, state, arrays, call, train=False):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = make(lib)
    m.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    m.train(train)
    xs = [lib.tensor(a, requires_grad=a.dtype == np.float32) for a in arrays]
    out = call(lib, m, *xs)
    outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o is not None]
    sum(((o * o).sum() for o in outs), lib.zeros(())).backward()
    values = [o.detach().numpy() for o in outs] + [x.grad.numpy() for x in xs if x.requires_grad] + \
        [p.grad.numpy() for _, p in m.named_parameters()]
    return values, [n for n, _ in m.named_parameters()], [str(w.message) for w in caught], repr(m)


def _same(make, arrays, call=lambda lib, m, *xs: m(*xs), train=False, seed=0):
    """The module from make(lib) run by both libraries from one random state dict."""
    rng = np.random.default_rng(seed)
    state = {k: rng.normal(0, 0.3, tuple(v.shape)).astype(np.float32) for k, v in make(torch).state_dict().items()}
    ours, theirs = (_run(lib, make, state, arrays, call, train) for lib in (gw, torch))
    assert ours[1:] == theirs[1:]      # names, construction warnings, repr
    assert len(ours[0]) == len(theirs[0])
    for k, (a, b) in enumerate(zip(ours[0], theirs[0])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"value {k}")


def _inputs(rng, kdim=E, vdim=E, batch_first=False, batched=True):
    def shaped(length, width):
        if not batched:
            return rng.normal(size=(length, width)).astype(np.float32)
        return rng.normal(size=(N, length, width) if batch_first else (length, N, width)).astype(np.float32)
    return shaped(L, E), shaped(S, kdim), shaped(S, vdim)


@pytest.mark.parametrize("config, kwargs", [
    ({}, {}), ({"batch_first": True}, {}), ({"num_heads": 4, "kdim": 5, "vdim": 6}, {}),
    ({"add_bias_kv": True, "add_zero_attn": True}, {}), ({"bias": False}, {"need_weights": False}),
    ({}, {"average_attn_weights": False}), ({}, {"attn_mask": "float"}), ({}, {"attn_mask": "bool"}),
    ({}, {"key_padding_mask": True}), ({"add_bias_kv": True}, {"key_padding_mask": True, "attn_mask": "bool"}),
    ({}, {"attn_mask": "3d"}), ({}, {"unbatched": True, "key_padding_mask": True}),
])
def test_multihead_attention_as_torch(config, kwargs):
    config = {"embed_dim": E, "num_heads": 2, **config}
    rng = np.random.default_rng(1)
    unbatched = kwargs.get("unbatched", False)
    arrays = list(_inputs(rng, config.get("kdim", E), config.get("vdim", E), config.get("batch_first", False),
                          not unbatched))
    masks = {"float": np.triu(np.full((L, S), -np.inf, np.float32), 1), "bool": np.triu(np.ones((L, S), bool), 1),
             "3d": rng.normal(size=(N * config["num_heads"], L, S)).astype(np.float32)}
    padding = rng.random((S,) if unbatched else (N, S)) > 0.6
    padding[..., 0] = False

    def call(lib, m, q, k, v):
        kw = {key: kwargs[key] for key in ("need_weights", "average_attn_weights") if key in kwargs}
        if "attn_mask" in kwargs:
            kw["attn_mask"] = lib.tensor(masks[kwargs["attn_mask"]])
        if kwargs.get("key_padding_mask"):
            kw["key_padding_mask"] = lib.tensor(padding)
        return m(q, k, v, **kw)
    _same(lambda lib: lib.nn.MultiheadAttention(**config), arrays, call)


def test_multihead_attention_reprs_errors_and_functional_form():
    def cases(lib):
        q = lib.ones(L, N, E)
        m = lib.nn.MultiheadAttention(E, 2)
        return outcomes([
            lambda: repr(m), lambda: repr(lib.nn.MultiheadAttention(E, 2, kdim=3, bias=False)),
            lambda: [(n, tuple(p.shape)) for n, p in lib.nn.MultiheadAttention(E, 2, kdim=3, add_bias_kv=True)
                     .named_parameters()],
            lambda: lib.nn.MultiheadAttention(E, 3), lambda: lib.nn.MultiheadAttention(0, 2),
            lambda: m(q, lib.ones(S, N, E), lib.ones(S + 1, N, E)),
            lambda: m(q, lib.ones(S, E), lib.ones(S, E)),
            lambda: m(q, q, q, attn_mask=lib.ones(L, L + 1)),
            lambda: m(q, q, q, attn_mask=lib.ones(5, L, L)),
            lambda: m(q, q, q, key_padding_mask=lib.ones(N, L + 1, dtype=lib.bool)),
            lambda: m(q, q, q, attn_mask=lib.ones(L, L, dtype=lib.int64)),
            lambda: m(q, q, q, is_causal=True),
            lambda: m(lib.ones(2, 3, 4, 8), q, q),
            lambda: tuple(lib.nn.functional.multi_head_attention_forward(
                q, q, q, E, 2, m.in_proj_weight, m.in_proj_bias, None, None, False, 0.0, m.out_proj.weight,
                m.out_proj.bias)[1].shape),
            lambda: lib.nn.Transformer.generate_square_subsequent_mask(3).tolist()])
    assert outcomes_equal(cases(gw), cases(torch))


def outcomes_equal(a, b) -> bool:
    return [str(x) for x in a] == [str(x) for x in b]


def _seq(rng, length, batch_first=False):
    return rng.normal(size=(N, length, E) if batch_first else (length, N, E)).astype(np.float32)


@pytest.mark.parametrize("make, train", [
    (lambda lib: lib.nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0), False),
    (lambda lib: lib.nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0, norm_first=True, activation="gelu"), True),
    (lambda lib: lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0), 2,
                                           lib.nn.LayerNorm(E)), False),
    (lambda lib: lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(E, 4, 16, 0.0, batch_first=True), 2), True),
])
def test_transformer_encoders_as_torch(make, train):
    rng = np.random.default_rng(2)
    batch_first = next(m for m in make(torch).modules() if isinstance(m, torch.nn.MultiheadAttention)).batch_first
    _same(make, [_seq(rng, 5, batch_first)], train=train)
    x = _seq(rng, 5, batch_first)
    mask = np.triu(np.full((5, 5), -np.inf, np.float32), 1)
    padding = np.zeros((N, 5), bool)
    padding[0, 3:] = True

    def masked(lib, m, src):
        name = "mask" if isinstance(m, lib.nn.TransformerEncoder) else "src_mask"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = m(src, **{name: lib.tensor(mask), "src_key_padding_mask": lib.tensor(padding)})
        assert [str(w.message) for w in caught] == [f"Support for mismatched src_key_padding_mask and {name} is "
                                                    "deprecated. Use same type for both instead."]
        return out
    _same(make, [x], masked, train=True)


def test_transformer_decoder_and_whole_transformer_as_torch():
    rng = np.random.default_rng(3)
    src, tgt = _seq(rng, 5), _seq(rng, 4)
    _same(lambda lib: lib.nn.TransformerDecoderLayer(E, 2, 16, dropout=0.0), [tgt, src])
    causal = np.triu(np.full((4, 4), -np.inf, np.float32), 1)

    def call(lib, m, s, t):
        return m(s, t, tgt_mask=lib.tensor(causal), tgt_is_causal=True)
    _same(lambda lib: lib.nn.Transformer(E, 2, 2, 2, 16, dropout=0.0), [src, tgt], call, train=True)
    _same(lambda lib: lib.nn.Transformer(E, 2, 1, 1, 16, dropout=0.0, batch_first=True, norm_first=True),
          [_seq(rng, 5, True), _seq(rng, 4, True)])


def test_transformer_errors_as_torch():
    def cases(lib):
        t = lib.nn.Transformer(E, 2, 1, 1, 16)
        return outcomes([lambda: t(lib.ones(5, N, E), lib.ones(4, N + 1, E)),
                         lambda: t(lib.ones(5, N, E), lib.ones(4, N, E + 1)),
                         lambda: lib.nn.TransformerEncoderLayer(E, 2, activation="tanh")])
    assert outcomes_equal(cases(gw), cases(torch))
