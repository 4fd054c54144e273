"""The autodiff engine: graph IR, op table, autodiff transforms and the Numba executor (knows nothing of gRPC)."""
from . import ops as _ops  # noqa: F401  (fills the op table)
from . import compiled, tape  # noqa: F401  (the compiled tier)
from .api import CACHE as _CACHE
from .blocks import set_threads, threads
from .api import EvalResult, GradCheck, GradResult, JvpResult, evaluate, gradient, jvp
from .derivatives import check_gradients, hessian, jacobian
from .errors import Cancelled, EngineError, GraphError, LimitError, UnknownOpError
from .executor import Anomaly
from .graph import Graph, Node
from .limits import Limits
from .ops import AttrInfo, OpInfo, op_catalogue
from .registry import OPS


def plan_cache_stats() -> dict:
    """hits, misses, size, capacity, and `compiled`: per plan the compiled tier worked on, its state, background
    compile seconds, segments and nodes compiled (docs/engine-api.md)."""
    from . import compiled
    return {**_CACHE.stats(), "compiled": compiled.stats()}


def plan_cache_top(n: int) -> list:
    """[(graph hash, PlanStats)] for the `n` most used graphs."""
    return _CACHE.top(n)


def on_plan_compile(listener):
    """Call `listener(seconds)` after every plan compile (the server's compile-time histogram);
    returns a function that stops it."""
    _CACHE.listeners.append(listener)
    return lambda: _CACHE.listeners.remove(listener)


def warm_up() -> None:
    """Compile the Numba kernels and exercise every transform once, so no request pays for it."""
    import numpy as np

    from . import kernels
    kernels.warm_up()
    from . import conv_kernels
    conv_kernels.warm_up()
    tape.warm_up()
    g = Graph([Node("placeholder", (), {"name": "x"}), Node("dot", (0, 0)),
               Node("constant", (), {"value": np.array(2.0, np.float32)}), Node("mul", (2, 1))])
    x = np.arange(4, dtype=np.float32)
    gradient(g, {"x": x}, [3], [0])


__all__ = ["Anomaly", "AttrInfo", "Cancelled", "EngineError", "EvalResult", "GradCheck", "GradResult", "Graph",
           "GraphError", "JvpResult", "LimitError", "Limits", "Node", "OPS", "OpInfo", "UnknownOpError",
           "check_gradients", "evaluate", "gradient", "hessian", "jacobian", "jvp", "op_catalogue",
           "on_plan_compile", "plan_cache_stats", "plan_cache_top", "set_threads", "threads", "warm_up"]
