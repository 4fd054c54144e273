"""PyTorch's names, declared once: one function per name gives `torch.f`, `Tensor.f`, `Tensor.f_`, its aliases and
its docs, and the autograd bookkeeping (grad_fn name, saved tensors) of the engine op it records.

    @declare("atan2", aliases=("arctan2",), inplace=True)
    def atan2(input, other):
        return apply("atan2", input, other)

    unary("asin", grad_fn="AsinBackward0", saves="all", aliases=("arcsin",))   # the common case, one line

The `api_*` modules hold the declarations, one module per family; `gradwire/__init__.py` installs them.
`python -m gradwire.declare` prints the API table the README links to (docs/api.md).
"""
from __future__ import annotations

import functools
import inspect
import sys
import types
from dataclasses import dataclass
from typing import Callable

from gradwire import _torch_names

# PyTorch's argument parser accepts NumPy's spellings of some keywords (python_arg_parser.cpp).
NUMPY_SPELLINGS = {"axis": "dim", "keepdims": "keepdim", "x": "input", "a": "input", "x1": "input", "x2": "other"}


@dataclass
class Declaration:
    name: str                 # the PyTorch name
    fn: Callable              # fn(input, ...) -> Tensor: the function form (checks its Tensor arguments)
    impl: Callable            # the same without the check (the method form checks its own)
    tensors: tuple            # (position, name) of the parameters PyTorch types as Tensor
    method: bool              # Tensor.name(...)
    function: bool            # torch.name(...) (in `namespace` when given)
    inplace: bool             # Tensor.name_(...): the result written into the tensor
    aliases: tuple            # other names for the same function (and method)
    namespace: str | None     # "linalg", "special", ... : torch.linalg.name
    doc: str

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


DECLARATIONS: dict[str, Declaration] = {}


def _numpy_spellings(fn: Callable) -> Callable:
    """fn, also accepting `axis=` for `dim=`, `keepdims=` for `keepdim=` (and `x=`/`x1=` for `input=`) where fn
    has the PyTorch parameter."""
    params = inspect.signature(fn).parameters
    renames = {k: v for k, v in NUMPY_SPELLINGS.items() if v in params and k not in params}
    if not renames:
        return fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for k in [k for k in kwargs if k in renames]:
            torch_name = renames[k]
            if torch_name in kwargs:
                raise TypeError(f"{fn.__name__}() got multiple values for argument '{torch_name}'")
            kwargs[torch_name] = kwargs.pop(k)
        return fn(*args, **kwargs)
    return wrapper


def _type_name(x) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _check_tensors(name: str, tensors: tuple, args: tuple, kwargs: dict, offset: int) -> None:
    """PyTorch's TypeError for a non-tensor where its signature says Tensor (offset 1: the method form,
    whose positions do not count self)."""
    if not tensors:
        return
    from gradwire.tensor import Tensor
    for pos, param in tensors:
        if pos < len(args):
            x = args[pos]
        elif param in kwargs:
            x = kwargs[param]
        else:
            continue
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}(): argument '{param}' (position {pos + 1 - offset}) must be Tensor, "
                            f"not {_type_name(x)}")


def _missing_arguments(name: str, fn: Callable, args: tuple, kwargs: dict) -> TypeError | None:
    """PyTorch's TypeError for a call that leaves required parameters out (its wording, 'argument(s)' included),
    or None when the call binds (a TypeError raised inside fn then stands)."""
    sig = inspect.signature(fn)
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError:
        return None
    missing = [p.name for p in sig.parameters.values() if p.default is p.empty and p.name not in bound.arguments
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not missing:
        return None
    names = ", ".join(f'"{m}"' for m in missing)
    return TypeError(f"{name}() missing {len(missing)} required positional argument{'s' if len(missing) == 1 else ''}"
                     f": {names}")


def _no_history_with_out(name: str, args: tuple, kwargs: dict) -> None:
    """PyTorch refuses out= when autograd would have to record the call."""
    from gradwire._grad_mode import is_grad_enabled
    from gradwire.tensor import Tensor
    if not is_grad_enabled():
        return
    stack = list(args) + list(kwargs.values())
    while stack:
        x = stack.pop()
        if isinstance(x, Tensor):
            if x.requires_grad:
                raise RuntimeError(f"{name.split('.')[-1]}(): functions with out=... arguments don't support automatic "
                                   "differentiation, but one of the arguments requires grad.")
        elif isinstance(x, (list, tuple)):
            stack.extend(x)


_OUT_TYPES: dict = {}


def _into(out, result):
    """torch's out=: the result written into `out` (a tuple of outs for a tuple result), which is returned. A
    dtype the result cannot be cast to (same kind) is refused; an out of another shape takes the result's, with
    PyTorch's warning when it held elements."""
    import numpy as np

    from gradwire._grad_mode import no_grad
    from gradwire.core.dtypes import LEGACY_NAMES
    if isinstance(result, tuple):
        outs = tuple(_into(o, r) for o, r in zip(out, result))
        if not hasattr(result, "_fields"):
            return outs
        from gradwire.api_linalg_decomp import _return_type     # torch.return_types.max_out, for max's
        kind = type(result).__name__ + "_out"
        if kind not in _OUT_TYPES:
            _OUT_TYPES[kind] = _return_type(kind, result._fields)
        return _OUT_TYPES[kind](*outs)
    src, dst = result.dtype.name, out.dtype.name
    if not np.can_cast(np.dtype(src), np.dtype(dst), casting="same_kind"):
        raise RuntimeError(f"result type {LEGACY_NAMES.get(src, src)} can't be cast to the desired output type "
                           f"{LEGACY_NAMES.get(dst, dst)}")
    with no_grad():
        if tuple(out.shape) != tuple(result.shape):
            if out.numel():
                from gradwire._user_frame import warn
                warn(f"An output with one or more elements was resized since it had shape {list(out.shape)}, which "
                     f"does not match the required output shape {list(result.shape)}. This behavior is deprecated, "
                     "and in a future PyTorch release outputs will not be resized unless they have zero elements. You "
                     "can explicitly reuse an out tensor t by resizing it, inplace, to zero elements with "
                     "t.resize_(0).")
            out._take_value(result.to(out.dtype))
        else:
            out.copy_(result)
    return out


def declare(name: str | None = None, *, method: bool = True, function: bool = True, inplace: bool = False,
            aliases: tuple = (), namespace: str | None = None, doc: str | None = None,
            tensors: tuple | None = None):
    """Register fn as the PyTorch name `name` (default: fn's own name). tensors: the parameters PyTorch types
    as Tensor, refused with its TypeError when given anything else (default: `input`, where fn has one)."""
    def register(fn: Callable) -> Callable:
        qualified = name or fn.__name__
        impl = _numpy_spellings(fn)
        params = list(inspect.signature(fn).parameters)
        typed = tensors if tensors is not None else ("input",) if params[:1] == ["input"] else ()
        checked = tuple((params.index(p), p) for p in typed)

        @functools.wraps(impl)
        def wrapped(*args, **kwargs):
            _check_tensors(qualified, checked, args, kwargs, 0)
            out = kwargs.pop("out", None)
            if out is not None:
                _no_history_with_out(qualified, args, kwargs)
            try:
                result = impl(*args, **kwargs)
            except TypeError as e:
                error = _missing_arguments(qualified, fn, args, kwargs)
                if error is None:
                    raise
                raise error from e
            return result if out is None else _into(out, result)
        text = doc or (fn.__doc__ or "").strip().split("\n")[0] or f"As torch.{qualified}."
        wrapped.__doc__ = fn.__doc__ or text
        wrapped.__name__ = impl.__name__ = qualified
        decl = Declaration(qualified, wrapped, impl, checked, method, function, inplace, tuple(aliases), namespace,
                           text)
        if decl.qualified in DECLARATIONS:
            raise ValueError(f"{decl.qualified} declared twice")
        DECLARATIONS[decl.qualified] = decl
        return wrapped
    return register


def autograd(op: str, grad_fn: str | None = None, *, saves: str | None = None, saves_output: bool = False,
             history: bool = True) -> None:
    """PyTorch's bookkeeping for the results of engine op `op`: the grad_fn class name; which inputs its
    backward node saves ("all", "first", "cross", "div"; see _torch_names.SAVES) and whether it saves its
    output (what version counters protect); history=False: results get no grad_fn (comparisons, indices)."""
    if grad_fn is not None:
        _torch_names.NAMES[op] = grad_fn
    if saves is not None or saves_output:
        _torch_names.SAVES[op] = (saves, saves_output)
    if not history:
        _torch_names.NO_HISTORY.add(op)


def unary(name: str, op: str | None = None, *, grad_fn: str | None = None, saves: str | None = "all",
          saves_output: bool = False, aliases: tuple = (), inplace: bool = True, history: bool = True,
          doc: str | None = None) -> Callable:
    """torch.name(input) and Tensor.name() recording the one-input engine op `op` (default: name)."""
    from gradwire.ops import apply
    op = op or name
    autograd(op, grad_fn, saves=saves, saves_output=saves_output, history=history)

    def fn(input):
        return apply(op, input)
    return declare(name, aliases=aliases, inplace=inplace, doc=doc or f"Elementwise {name}, as torch.{name}.")(fn)


def binary(name: str, op: str | None = None, *, grad_fn: str | None = None, saves: str | None = "all",
           saves_output: bool = False, aliases: tuple = (), inplace: bool = True, history: bool = True,
           tensor_other: bool = False, doc: str | None = None) -> Callable:
    """torch.name(input, other) and Tensor.name(other) recording the two-input engine op `op`.
    tensor_other: PyTorch's signature takes `other` as a Tensor only (hypot, atan2), not a number."""
    from gradwire.ops import apply
    op = op or name
    autograd(op, grad_fn, saves=saves, saves_output=saves_output, history=history)

    def fn(input, other):
        return apply(op, input, other)
    return declare(name, aliases=aliases, inplace=inplace, doc=doc or f"Elementwise {name}, as torch.{name}.",
                   tensors=("input", "other") if tensor_other else ("input",))(fn)


def _method(decl: Declaration, name: str) -> Callable:
    impl, tensors = decl.impl, decl.tensors

    def method(self, *args, **kwargs):
        if len(tensors) > 1:
            _check_tensors(name, tensors, (self,) + args, kwargs, 1)
        try:
            return impl(self, *args, **kwargs)
        except TypeError as e:
            error = _missing_arguments(name, impl, (self,) + args, kwargs)
            if error is None:
                raise
            raise error from e
    method.__name__, method.__qualname__, method.__doc__ = name, f"Tensor.{name}", decl.fn.__doc__
    return method


def _in_place(decl: Declaration, name: str) -> Callable:
    impl, tensors = decl.impl, decl.tensors

    def method(self, *args, **kwargs):
        if len(tensors) > 1:
            _check_tensors(name + "_", tensors, (self,) + args, kwargs, 1)
        return self._in_place(impl, *args, **kwargs)
    method.__name__, method.__qualname__ = name + "_", f"Tensor.{name}_"
    method.__doc__ = f"In-place {name}, as torch.Tensor.{name}_."
    return method


def install(package: types.ModuleType, tensor_cls: type, session_cls: type, bind: Callable) -> list[str]:
    """Put every declaration on the package (and its namespaces), on Tensor and on Session; returns the
    top-level names added (for __all__). A name Tensor defines itself is not replaced."""
    added = []
    for decl in DECLARATIONS.values():
        names = (decl.name, *decl.aliases)
        if decl.function:
            home = package
            if decl.namespace:
                home = _namespace(package, decl.namespace)
            for n in names:
                setattr(home, n, decl.fn)
                if not decl.namespace:
                    setattr(session_cls, n, bind(decl.fn))
                    added.append(n)
        for n in names:
            if decl.method and decl.namespace is None and n not in vars(tensor_cls):
                setattr(tensor_cls, n, _method(decl, n))
            if decl.inplace and n + "_" not in vars(tensor_cls):
                setattr(tensor_cls, n + "_", _in_place(decl, n))
    for top in {d.namespace.split(".")[0] for d in DECLARATIONS.values() if d.namespace}:
        if top not in vars(session_cls):
            setattr(session_cls, top, _SessionNamespace(getattr(package, top), bind))
    return added


class _SessionNamespace:
    """Session.linalg: the namespace module on the class; on a session, its functions run in that session
    (`with gw.connect() as torch: torch.linalg.inv(a)`)."""

    def __init__(self, module: types.ModuleType, bind: Callable):
        self.module, self.bind = module, bind

    def __get__(self, session, owner):
        return self.module if session is None else _BoundNamespace(session, self.module, self.bind)


class _BoundNamespace:
    def __init__(self, session, module: types.ModuleType, bind: Callable):
        self._session, self._module, self._bind = session, module, bind

    def __getattr__(self, name: str):
        value = getattr(self._module, name)
        if isinstance(value, type) or not callable(value):     # LinAlgError, constants
            return value
        return functools.partial(self._bind(value), self._session)


def _namespace(package: types.ModuleType, path: str) -> types.ModuleType:
    """gradwire.linalg, gradwire.special ...: a module object per namespace, importable by name."""
    home = package
    for part in path.split("."):
        child = getattr(home, part, None)
        if child is None:
            child = types.ModuleType(f"{home.__name__}.{part}", f"gradwire.{path}: as torch.{path}.")
            setattr(home, part, child)
            sys.modules[child.__name__] = child
        home = child
    return home


def markdown() -> str:
    """The API table: every declared name, its forms and aliases, and what it does."""
    rows = ["| name | forms | aliases | what it does |", "|---|---|---|---|"]
    for decl in sorted(DECLARATIONS.values(), key=lambda d: d.qualified):
        forms = []
        if decl.function:
            forms.append(f"`torch.{decl.qualified}`")
        if decl.method and not decl.namespace:
            forms.append(f"`Tensor.{decl.name}`")
        if decl.inplace:
            forms.append(f"`Tensor.{decl.name}_`")
        aliases = ", ".join(f"`{a}`" for a in decl.aliases)
        text = decl.doc.replace("|", "\\|")
        rows.append(f"| `{decl.qualified}` | {' '.join(forms)} | {aliases} | {text} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import gradwire  # noqa: F401  (installs the declarations)
    from gradwire.declare import markdown as _markdown   # the imported module's table, not __main__'s
    print("# gradwire's PyTorch names\n\nGenerated by `python -m gradwire.declare` from the declarations in "
          "`client/api_*.py`; a test checks it is current.\n")
    print(_markdown(), end="")
