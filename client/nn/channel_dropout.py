"""Channel-wise dropout (torch.nn.functional.dropout1d/2d/3d and the Dropout1d/2d/3d modules): whole channels
zeroed with probability p, the rest scaled by 1/(1-p); the mask is drawn on the client as F.dropout's is."""
from __future__ import annotations

import gradwire as gw
from gradwire._user_frame import warn

from .functional import _in_place
from .layers import Dropout


def _feature_dropout(input, p):
    if p == 1.0:
        return input * 0.0
    shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)
    keep = gw.rand(*shape, dtype=input.dtype) >= p
    return input * keep.to(input.dtype) * (1.0 / (1.0 - p))


def _channelwise(name: str, spatial: int):
    def dropout(input, p=0.5, training=True, inplace=False):
        if p < 0.0 or p > 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        dims = input.dim()
        if spatial == 1 and dims not in (2, 3):
            raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {dims}D input. Note that "
                               "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
                               "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
        if spatial > 1 and dims not in (spatial + 1, spatial + 2):
            warn(f"{name}: Received a {dims}-D input to {name}, which is deprecated and will result in an error in "
                 f"a future release. To retain the behavior and silence this warning, please use dropout instead. "
                 f"Note that {name} exists to provide channel-wise dropout on inputs with {spatial} spatial "
                 f"dimensions, a channel dimension, and an optional batch dimension (i.e. {spatial + 1}D or "
                 f"{spatial + 2}D inputs).")
        if spatial == 2 and dims == 3:
            warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
                 "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
                 "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
                 "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d "
                 "instead.")
        if not training or p == 0.0:
            return input
        unbatched = spatial != 2 and dims == spatial + 1

        def drop(x, p):
            return _feature_dropout(x.unsqueeze(0), p).squeeze(0) if unbatched else _feature_dropout(x, p)
        return _in_place(input, drop, p) if inplace else drop(input, p)
    dropout.__name__ = dropout.__qualname__ = name
    return dropout


dropout1d = _channelwise("dropout1d", 1)
dropout2d = _channelwise("dropout2d", 2)
dropout3d = _channelwise("dropout3d", 3)


def _module(name: str, fn):
    return type(name, (Dropout,), {"forward": lambda self, input: fn(input, self.p, self.training, self.inplace),
                                   "__doc__": f"As torch.nn.{name}: whole channels dropped."})


Dropout1d = _module("Dropout1d", dropout1d)
Dropout2d = _module("Dropout2d", dropout2d)
Dropout3d = _module("Dropout3d", dropout3d)
