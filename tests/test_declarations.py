"""The client's PyTorch names come from declarations: the API table is current, and every form a declaration
promises exists and is the declared function."""
from __future__ import annotations

import pathlib

import pytest

import gradwire as gw
from gradwire.declare import DECLARATIONS, markdown

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_api_table_is_current():
    assert markdown() in DOCS.read_text(), "docs/api.md is stale: run `make api-docs`"


@pytest.mark.parametrize("qualified", sorted(DECLARATIONS))
def test_declared_forms_exist(qualified):
    decl = DECLARATIONS[qualified]
    home = gw
    for part in (decl.namespace or "").split(".") if decl.namespace else ():
        home = getattr(home, part)
    for name in (decl.name, *decl.aliases):
        if decl.function:
            assert getattr(home, name) is decl.fn
        if decl.method and not decl.namespace:
            assert callable(getattr(gw.Tensor, name))
        if decl.inplace:
            assert callable(getattr(gw.Tensor, name + "_"))


def test_numpy_keyword_spellings():
    x = gw.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert gw.sum(x, axis=1, keepdims=True).tolist() == [[3.0], [7.0]]
    assert gw.exp(x=gw.tensor([0.0])).tolist() == [1.0]
    with pytest.raises(TypeError, match="multiple values for argument 'dim'"):
        gw.sum(x, dim=0, axis=1)
