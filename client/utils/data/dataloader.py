"""DataLoader: a dataset's samples in batches, in order or shuffled, as torch.utils.data.DataLoader, loaded in the
calling process (there are no worker processes: a batch is a few recorded ops, which the server computes)."""
from __future__ import annotations

import warnings

from .collate import default_collate, default_convert
from .sampler import BatchSampler, RandomSampler, SequentialSampler

NO_WORKERS = ("gradwire's DataLoader loads in the calling process: worker processes are not supported, so num_workers "
              "must be 0 (a batch is a few recorded ops the server computes; got num_workers={})")
_FIXED = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class DataLoader:
    """Batches of `dataset`: batch_size samples each (the last one shorter unless drop_last), in order, or in a new
    random order each epoch with shuffle=True (drawn from `generator`, a gw.Generator, else the default one), put
    together by collate_fn (default_collate). batch_size=None: samples one at a time, converted by default_convert.

    Batches of a TensorDataset (or a Subset of one) are taken as one op per tensor rather than a stack of samples,
    so an epoch costs no request: a batch's values come with the request that reads them (a loss, a print)."""

    _initialized = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if num_workers > 0:
            raise ValueError(NO_WORKERS.format(num_workers))
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if persistent_workers:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            raise ValueError("multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                             f"but got num_workers={num_workers}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
                                 "drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None else default_convert)
        self.persistent_workers = persistent_workers
        self._initialized = True

    def __setattr__(self, attr, val):
        if self._initialized and attr in _FIXED:
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __iter__(self) -> "_Iterator":
        if self.pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=2)
        return _Iterator(self)

    def _fetch(self, index):
        """The batch (or, without batching, the sample) at index: what PyTorch's fetcher gives."""
        dataset = self.dataset
        if self.batch_sampler is None:
            return self.collate_fn(dataset[index])
        collated = getattr(dataset, "_collated", None)         # TensorDataset's batches at once (see there)
        if collated is not None and self.collate_fn is default_collate:
            batch = collated(index)
            if batch is not None:
                return batch
        getitems = getattr(dataset, "__getitems__", None)
        samples = getitems(index) if getitems else [dataset[i] for i in index]
        return self.collate_fn(samples)


class _Iterator:
    """One pass over a DataLoader (an epoch): its batches, and len() of them."""

    def __init__(self, loader: DataLoader):
        self._loader = loader
        self._indices = iter(loader._index_sampler)

    def __iter__(self):
        return self

    def __next__(self):
        return self._loader._fetch(next(self._indices))

    def __len__(self) -> int:
        return len(self._loader._index_sampler)
