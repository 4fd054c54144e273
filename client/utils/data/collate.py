"""default_collate and default_convert, as torch.utils.data's: samples (tensors, arrays, numbers, strings, and
tuples, lists and dicts of them) into batches, with the same types, dtypes and shapes. A dispatch table by element
type, as PyTorch's, so a caller can extend it."""
from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

import gradwire as gw
from gradwire.tensor import Tensor, leaf_from_data

_STRINGS_OR_OBJECTS = re.compile(r"[SaUO]")     # array dtypes with no tensor dtype
ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def collate_tensor_fn(batch, *, collate_fn_map=None):
    """torch.stack(batch). Samples whose values the client holds, without history, are stacked here (one array, no
    request); others are stacked by the server with the request that reads the batch."""
    first = batch[0]._node
    nodes = [t._node for t in batch]
    if all(n.value is not None and not n.requires_grad and n.shape == first.shape and n.dtype == first.dtype
           and n.session is first.session for n in nodes):
        return leaf_from_data(first.session, np.stack([n.value for n in nodes]))
    return gw.stack(batch, 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    if _STRINGS_OR_OBJECTS.search(batch[0].dtype.str) is not None:
        raise TypeError(ERROR.format(batch[0].dtype))
    return collate([gw.as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    return gw.as_tensor(np.asarray(batch))      # one array first: NumPy scalars keep their dtype (float64 stays)


def collate_float_fn(batch, *, collate_fn_map=None):
    return gw.tensor(batch, dtype=gw.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    return gw.tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


# Looked up by the first element's type, then by isinstance in this order (bool is an int; np.float64 a float).
default_collate_fn_map = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def collate(batch, *, collate_fn_map=None):
    """Collate by the table, recursing into mappings, namedtuples and sequences (a tuple of fields gives a list)."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for kind, fn in collate_fn_map.items():
            if isinstance(elem, kind):
                return fn(batch, collate_fn_map=collate_fn_map)

    def each(samples):
        return collate(samples, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        return _mapping_like(elem, {key: each([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):      # a namedtuple
        return elem_type(*(each(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [each(samples) for samples in transposed]
        return _sequence_like(elem, [each(samples) for samples in transposed])
    raise TypeError(ERROR.format(elem_type))


def _mapping_like(like, items: dict):
    """items in a mapping of like's own type, as torch's collate builds one: a copy of a mutable one updated, else
    the type built from a dict, else a dict."""
    try:
        if isinstance(like, collections.abc.MutableMapping):
            clone = copy.copy(like)
            clone.update(items)
            return clone
        return type(like)(items)
    except TypeError:
        return items


def _sequence_like(like, items: list):
    """items in a sequence of like's own type: a copy of a mutable one written element by element, else the type
    built from a list, else the list."""
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, x in enumerate(items):
                clone[i] = x
            return clone
        return type(like)(items)
    except TypeError:
        return items


def default_collate(batch):
    """A list of samples as one batch: tensors stacked (a new first dimension), arrays and numbers made tensors
    (floats float64, ints int64), strings left as they are; containers collated field by field."""
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data):
    """One sample (batch_size=None): NumPy arrays and scalars made tensors, inside containers too; the rest as is."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        if elem_type.__name__ == "ndarray" and _STRINGS_OR_OBJECTS.search(data.dtype.str) is not None:
            return data
        return gw.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _mapping_like(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _sequence_like(data, [default_convert(d) for d in data])
    return data
