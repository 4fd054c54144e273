"""Lazy layers, as torch.nn's: LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d, LazyBatchNorm1d/2d/3d.

Their input size (in_features, in_channels, num_features) comes from the first input: until then their
parameters and buffers are uninitialized placeholders; the first call gives them their shapes, initializes
them as the plain layer does, and the module becomes that layer (LazyLinear -> Linear). Parameters keep their
identity, so an optimizer made before the first call updates them.
"""
from __future__ import annotations

import gradwire as gw
from gradwire.tensor import Tensor

from .conv_layers import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .layers import BatchNorm1d, BatchNorm2d, BatchNorm3d, Linear
from .module import Parameter

_SHAPE = ("Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
          "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call `forward` "
          "to initialize the parameters before accessing their attributes.")


class _Uninitialized:
    """What UninitializedParameter and UninitializedBuffer share: no shape yet; materialize() gives one."""
    __slots__ = ()
    cls_to_become: type = Tensor

    def __deepcopy__(self, memo):
        """Another placeholder of the same kind (PyTorch's: nothing to copy yet)."""
        if id(self) not in memo:
            memo[id(self)] = type(self)(self.requires_grad, None, self.dtype)
        return memo[id(self)]

    def __reduce_ex__(self, protocol):
        return type(self), (self.requires_grad, None, self.dtype)

    def materialize(self, shape, device=None, dtype=None) -> None:
        self.data = gw.zeros(tuple(shape), dtype=dtype or self.dtype)
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(_SHAPE)

    def size(self, dim=None):
        raise RuntimeError(_SHAPE)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__


class UninitializedParameter(_Uninitialized, Parameter):
    __slots__ = ()
    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        return Parameter.__new__(cls, gw.zeros(0, dtype=dtype or gw.float32), requires_grad)

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass


class UninitializedBuffer(_Uninitialized, Tensor):
    __slots__ = ()

    def __new__(cls, requires_grad=False, device=None, dtype=None):
        t = gw.zeros(0, dtype=dtype or gw.float32)
        t.__class__ = cls
        return t

    def __init__(self, requires_grad=False, device=None, dtype=None):
        pass


def is_lazy(t) -> bool:
    return isinstance(t, _Uninitialized)


def _lazy(name: str, mixin: type, plain: type) -> type:
    """The lazy form of a plain layer: the mixin's placeholders and first-call sizing, then `plain` itself."""
    return type(name, (mixin, plain), {"cls_to_become": plain, "__module__": __name__, "__qualname__": name})


class LazyModuleMixin:
    """The first call sizes the placeholders (initialize_parameters), then the module becomes cls_to_become."""
    cls_to_become: type | None = None

    def has_uninitialized_params(self) -> bool:
        return any(is_lazy(t) for t in (*self._parameters.values(), *self._buffers.values()))

    def forward(self, *args, **kwargs):
        if self.has_uninitialized_params():
            self.initialize_parameters(*args, **kwargs)
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become
        return self.forward(*args, **kwargs)


class LazyLinear(LazyModuleMixin, Linear):
    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(0, 0, False, dtype=dtype)
        self.out_features = out_features
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input) -> None:
        self.in_features = input.shape[-1]
        self.weight.materialize((self.out_features, self.in_features))
        if self.bias is not None:
            self.bias.materialize((self.out_features,))
        self.reset_parameters()


class _LazyConvXdMixin(LazyModuleMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, dtype=dtype)
        self._placeholders(out_channels, bias, dtype)

    def _placeholders(self, out_channels, bias, dtype) -> None:
        self.out_channels = out_channels
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs) -> None:
        nd = len(self.kernel_size)
        if input.ndim not in (nd + 1, nd + 2):
            raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {input.shape}")
        self.in_channels = input.shape[1] if input.ndim == nd + 2 else input.shape[0]
        if self.in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        pair = (self.in_channels, self.out_channels // self.groups) if self.transposed else \
            (self.out_channels, self.in_channels // self.groups)
        self.weight.materialize((*pair, *self.kernel_size))
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()


LazyConv1d = _lazy("LazyConv1d", _LazyConvXdMixin, Conv1d)
LazyConv2d = _lazy("LazyConv2d", _LazyConvXdMixin, Conv2d)
LazyConv3d = _lazy("LazyConv3d", _LazyConvXdMixin, Conv3d)


class _LazyConvTransposeXdMixin(_LazyConvXdMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        # (past _LazyConvXdMixin's __init__, to the transposed layer's own)
        super(_LazyConvXdMixin, self).__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False,
                                               dilation, padding_mode, dtype=dtype)
        self._placeholders(out_channels, bias, dtype)


LazyConvTranspose1d = _lazy("LazyConvTranspose1d", _LazyConvTransposeXdMixin, ConvTranspose1d)
LazyConvTranspose2d = _lazy("LazyConvTranspose2d", _LazyConvTransposeXdMixin, ConvTranspose2d)
LazyConvTranspose3d = _lazy("LazyConvTranspose3d", _LazyConvTransposeXdMixin, ConvTranspose3d)


class _LazyNormBase(LazyModuleMixin):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None):
        super().__init__(0, eps, momentum, False, False, dtype=dtype)
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = UninitializedParameter(dtype=dtype)
            self.bias = UninitializedParameter(dtype=dtype)
        if track_running_stats:
            self.register_buffer("running_mean", UninitializedBuffer(dtype=dtype))
            self.register_buffer("running_var", UninitializedBuffer(dtype=dtype))
            self.register_buffer("num_batches_tracked", gw.tensor(0, dtype=gw.int64))

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input) -> None:
        self.num_features = input.shape[1] if input.ndim > 1 else input.shape[0]
        for t in (self.weight, self.bias, self.running_mean, self.running_var):
            if t is not None:
                t.materialize((self.num_features,))
        self.reset_parameters()


LazyBatchNorm1d = _lazy("LazyBatchNorm1d", _LazyNormBase, BatchNorm1d)
LazyBatchNorm2d = _lazy("LazyBatchNorm2d", _LazyNormBase, BatchNorm2d)
LazyBatchNorm3d = _lazy("LazyBatchNorm3d", _LazyNormBase, BatchNorm3d)


__all__ = ["LazyModuleMixin", "UninitializedParameter", "UninitializedBuffer", "LazyLinear", "LazyConv1d", "LazyConv2d",
           "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyBatchNorm1d",
           "LazyBatchNorm2d", "LazyBatchNorm3d"]
