"""Whether operations record history (`gw.no_grad()` turns it off for this thread)."""
from __future__ import annotations

import threading

class _State(threading.local):
    enabled = True          # each thread starts with grad mode on
    inference = False


_state = _State()


def is_grad_enabled() -> bool:
    return _state.enabled


class no_grad:
    """Context manager (and decorator, with or without its parentheses) under which results do not require
    grad, as in PyTorch."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)        # `@no_grad` bare: decorate at once

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = False
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        return wrapper


class enable_grad(no_grad):
    """Context manager (and decorator) under which results record history again, as torch.enable_grad."""

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = True
        return self

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with enable_grad():
                return fn(*args, **kwargs)
        return wrapper


class set_grad_enabled(no_grad):
    """set_grad_enabled(mode): sets grad mode now (as a function) or for a block (as a context manager)."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode: bool):
        self._prev = is_grad_enabled()
        self._mode = bool(mode)
        _state.enabled = self._mode

    def __enter__(self):
        _state.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False


class inference_mode(no_grad):
    """torch.inference_mode(mode=True): no history is recorded, as under no_grad (PyTorch's further rules for
    inference tensors, such as refusing them in a later backward, are not modelled)."""

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return object.__new__(cls)
        return cls()(mode)             # `@inference_mode` bare

    def __init__(self, mode: bool = True):
        self._mode = bool(mode)

    def __enter__(self):
        self._prev, self._prev_inference = is_grad_enabled(), _state.inference
        if self._mode:
            _state.enabled, _state.inference = False, True
        return self

    def __exit__(self, *exc):
        _state.enabled, _state.inference = self._prev, self._prev_inference
        return False

    def __call__(self, fn):
        import functools
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper


def is_inference_mode_enabled() -> bool:
    return _state.inference
