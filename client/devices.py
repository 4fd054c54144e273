"""torch.device for a client whose tensors all live on one device: the server's CPU, where the math runs.

Programs written for PyTorch name devices (`X.to(device)`, `gw.zeros(3, device=d)`, d2l's `try_gpu()`); a CPU
device is accepted everywhere and changes nothing, and any other is refused where it is used, with the error a
CPU-only PyTorch build raises (AssertionError "Torch not compiled with CUDA enabled" for CUDA).
"""
from __future__ import annotations

import builtins
import re

# PyTorch's device types, in the order its parse error lists them.
TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla",
         "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")
_SPEC = re.compile(r"([a-zA-Z_]+)(?::(0|[1-9][0-9]*))?")
NO_CUDA = "Torch not compiled with CUDA enabled"
NO_ACCELERATOR = "Cannot access accelerator device when none is available."


def _type_name(x) -> str:
    if isinstance(x, device):
        return "torch.device"
    return builtins.type(x).__name__


class device:    # noqa: N801  (PyTorch's name)
    """A device name, as torch.device: `device('cpu')`, `device('cuda', 0)`, `device('cuda:0')`. Any of PyTorch's
    device types can be named; only the CPU can hold a tensor."""

    __slots__ = ("_type", "_index")

    def __init__(self, type, index=None):    # noqa: A002  (PyTorch's keyword)
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(): argument 'type' (position 1) must be str, not torch.device")
            self._type, self._index = type._type, type._index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            # A bare index means the current accelerator in PyTorch; there is none.
            raise RuntimeError("Device index must not be negative" if type < 0 else NO_ACCELERATOR)
        if not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got ({_type_name(type)}), but "
                            f"expected one of:\n * (torch.device device)\n      didn't match because some of the "
                            f"arguments have invalid types: (!{_type_name(type)}!)\n * (str type, int index = -1)\n")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise TypeError(f"device(): argument 'index' (position 2) must be int, not {_type_name(index)}")
        if not type:
            raise RuntimeError("Device string must not be empty")
        match = _SPEC.fullmatch(type)
        if match is None:
            raise RuntimeError(f"Invalid device string: '{type}'")
        name, number = match.groups()
        if name not in TYPES:
            raise RuntimeError(f"Expected one of {', '.join(TYPES)} device type at start of device string: {type}")
        if number is not None and index is not None:
            raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: "
                               f"{type}")
        if index is not None and index < 0:
            raise RuntimeError("Device index must not be negative")
        self._type = name
        self._index = int(number) if number is not None else index

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __repr__(self) -> str:
        index = "" if self._index is None else f", index={self._index}"
        return f"device(type='{self._type}'{index})"

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __eq__(self, other) -> bool:
        # A string is never equal, as in PyTorch (`x.device == 'cpu'` is False; compare `x.device.type`).
        return isinstance(other, device) and (self._type, self._index) == (other._type, other._index)

    def __hash__(self) -> int:
        return hash((self._type, self._index))

    def __reduce__(self):
        return (device, (self._type, self._index))


CPU = device("cpu")


def check(where) -> bool:
    """Accept None or a name of the CPU (`'cpu'`, `'cpu:0'`, `device('cpu')`); refuse any other device as a CPU-only
    PyTorch does (a malformed name with torch.device's own error). True when the name differs from a tensor's device
    (an index: `'cpu:0'`), where PyTorch's Tensor.to copies."""
    if where is None or where is CPU:
        return False
    if not isinstance(where, device):
        # A torch.device (or anything else that prints as a device name) is read by its name.
        where = device(str(where) if builtins.type(where).__name__ == "device" else where)
    if where.type == "cpu":
        return where != CPU
    if where.type == "cuda":
        raise AssertionError(NO_CUDA)
    raise RuntimeError(f"gradwire tensors live on the server's CPU: device '{where}' is not available")


def is_device(x) -> bool:
    """Whether `x` names a device where Tensor.to and Module.to take a positional argument."""
    return isinstance(x, (str, device)) or (isinstance(x, int) and not isinstance(x, bool)) or \
        builtins.type(x).__name__ == "device"


def parse_to(args: tuple, dtype=None, where=None) -> tuple:
    """(dtype, moves) for `Tensor.to(*args)` or `Module.to(*args)`: the dtype asked for (a dtype, or another tensor's;
    else `dtype`), and whether a device named differs from a tensor's (see check). A bool is `non_blocking`, which
    means nothing here."""
    from gradwire.dtypes import DType
    from gradwire.tensor import Tensor
    moves = False
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, DType):
            dtype = a
        elif is_device(a):
            moves = check(a) or moves
        elif a is not None and not isinstance(a, bool):
            raise TypeError(f"to() received an invalid combination of arguments - got ({builtins.type(a).__name__})")
    return dtype, check(where) or moves
