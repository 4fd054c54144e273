"""Map-style datasets (Dataset, TensorDataset, Subset) and random_split, as torch.utils.data's."""
from __future__ import annotations

import itertools
import math
import operator
import warnings

import numpy as np

from gradwire import random
from gradwire.core.hashing import MIN_RESIDENT_BYTES
from gradwire.ops import apply
from gradwire.tensor import Tensor, leaf_from_data


class Dataset:
    """Base class of map-style datasets: `dataset[i]` is a sample; most also have a len()."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset):
    """Sample i is (t[i] for each tensor); the tensors share their first dimension."""

    def __init__(self, *tensors):
        if any(tensors[0].size(0) != t.size(0) for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].size(0)

    def _collated(self, indices):
        """default_collate([self[i] for i in indices]), taken at once: each tensor's rows in one op, no request
        (None where that does not apply: another tensor type, an overridden __getitem__, indices not integers)."""
        if type(self).__getitem__ is not TensorDataset.__getitem__ or \
                not all(isinstance(t, Tensor) and t.ndim for t in self.tensors):
            return None
        try:
            index = np.array([operator.index(i) for i in indices], np.int64)
        except TypeError:
            return None
        return [rows(t, index) for t in self.tensors]


def rows(t: Tensor, index: np.ndarray) -> Tensor:
    """torch.stack([t[i] for i in index]) as one op: values, dtype, shape and (with history) gradients the same.
    As ops.node_op does for views, a small batch of rows the client holds, without history, is taken here (a few
    bytes, known at once); any other is a `take` the server computes with the request that reads it, where the
    whole tensor travels once (it is kept there by content) and each batch sends only its indices."""
    n = t.shape[0]
    bad = index[(index < -n) | (index >= n)]
    if bad.size:
        raise IndexError(f"index {int(bad[0])} is out of bounds for dimension 0 with size {n}")
    index = np.where(index < 0, index + n, index)
    node = t._node
    session = node.session
    row_bytes = node.nbytes // n if n else 0
    if node.value is not None and not node.requires_grad and (
            len(index) * row_bytes < MIN_RESIDENT_BYTES or not session.resident):
        return leaf_from_data(session, node.value[index])
    return apply("take", t, leaf_from_data(session, index), attrs={"axis": 0}, label="StackBackward0")


class Subset(Dataset):
    """The samples of dataset at the given indices."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        if type(self).__getitem__ is not Subset.__getitem__ and type(self).__getitems__ is Subset.__getitems__:
            raise NotImplementedError(
                f"{type(self).__name__} overrides __getitem__ but not __getitems__. When subclassing Subset and "
                "overriding __getitem__, you must also override __getitems__ to ensure DataLoader works correctly "
                "with your custom logic. A simple implementation:\n\ndef __getitems__(self, indices):\n"
                "    return [self.__getitem__(idx) for idx in indices]")

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def _collated(self, indices):
        inner = getattr(self.dataset, "_collated", None)
        if inner is None or type(self).__getitems__ is not Subset.__getitems__:
            return None
        return inner([self.indices[i] for i in indices])


def random_split(dataset, lengths, generator=random.default_generator):
    """Non-overlapping Subsets of the given lengths (or fractions of len(dataset)) in a random order."""
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(math.floor(len(dataset) * frac))
        for i in range(len(dataset) - sum(counts)):       # the remainder, one each, round-robin
            counts[i % len(counts)] += 1
        lengths = counts
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = random._rng(generator).permutation(sum(lengths)).tolist()     # gw.randperm's draws
    return [Subset(dataset, indices[end - length:end]) for end, length in zip(itertools.accumulate(lengths), lengths)]
