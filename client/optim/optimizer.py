"""The Optimizer base class: parameter groups, per-parameter state, zero_grad, state dicts."""
from __future__ import annotations

import copy
from collections import defaultdict

import gradwire as gw
from gradwire.tensor import Tensor


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """As torch.optim.Optimizer. `step()` records in-place updates under no_grad: like any other in-place
    update they travel with the next request, so a training step stays one round trip."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            from gradwire.nn.module import _torch_type
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {_torch_type(params)}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        param_group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        from gradwire.nn.module import zero_grads
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with gw.enable_grad():
                loss = closure()
        with gw.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if getattr(p.grad, "is_sparse", False):
                        raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                    state = self.state.get(p, {})
                    self._update(p, p.grad, state, group)
                    if state:       # as PyTorch: no entry for a parameter the algorithm keeps nothing for (SGD)
                        self.state[p] = state
        return loss

    def _update(self, p, grad, state: dict, group: dict) -> None:
        raise NotImplementedError

    # -- state dicts ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        index = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        params = [p for g in self.param_groups for p in g["params"]]
        if sum(len(g["params"]) for g in groups) != len(params):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        ids = [i for g in groups for i in g["params"]]
        by_id = dict(zip(ids, params))
        self.state = defaultdict(dict)
        for i, s in state_dict["state"].items():
            p = by_id[int(i)]
            self.state[p] = {k: _as_state(k, v, p) for k, v in s.items()}
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = copy.deepcopy(v)

    def __repr__(self) -> str:
        # PyTorch's layout: each group opens with a newline, so groups are separated by a blank line.
        text = type(self).__name__ + " ("
        for i, g in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n" + "".join(f"    {k}: {g[k]}\n" for k in sorted(g) if k != "params")
        return text + ")"


def _as_state(key, value, like):
    """A loaded optimizer-state entry, as PyTorch's load_state_dict casts it: tensors other than "step" take
    the dtype of a floating-point parameter (NAdam's mu_product too); torch tensors and arrays become gradwire
    tensors; numbers stay."""
    if isinstance(value, (int, float)):
        return value
    dtype = like.dtype if key != "step" and like.is_floating_point() else None
    if isinstance(value, Tensor):
        return value if dtype in (None, value.dtype) else value.to(dtype)
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return gw.tensor(value, dtype=dtype)

