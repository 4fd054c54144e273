"""gradwire.utils.data against torch.utils.data: the same datasets through both DataLoaders give the same batches
(values, dtypes, shapes, container types) in order; shuffled epochs are permutations, reproducible from a seed;
an epoch costs no request; errors have PyTorch's types and messages."""
from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401

pytestmark = pytest.mark.usefixtures("session")
RNG = np.random.default_rng(11)
FEATURES = RNG.standard_normal((23, 3)).astype(np.float32)
LABELS = RNG.integers(0, 5, 23)
WIDE = RNG.standard_normal((40, 128))          # float64 rows of 1 KiB: a batch of 8 is past the held-view size
Point = collections.namedtuple("Point", ["x", "y"])


def same(ours, theirs, where="batch"):
    """ours (gradwire) has theirs' (torch) structure, container types, and tensors of the same dtype, shape, values."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, gw.Tensor), f"{where}: {type(ours).__name__}, torch has a tensor"
        assert str(ours.dtype) == str(theirs.dtype), f"{where}: {ours.dtype} vs torch's {theirs.dtype}"
        assert tuple(ours.shape) == tuple(theirs.shape), f"{where}: {tuple(ours.shape)} vs {tuple(theirs.shape)}"
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy(), err_msg=where)
    elif isinstance(theirs, (list, tuple)):
        assert type(ours).__name__ == type(theirs).__name__ and len(ours) == len(theirs), where
        for k, (a, b) in enumerate(zip(ours, theirs)):
            same(a, b, f"{where}[{k}]")
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), where
        for k in theirs:
            same(ours[k], theirs[k], f"{where}[{k!r}]")
    elif isinstance(theirs, np.ndarray):
        assert type(ours) is np.ndarray and ours.dtype == theirs.dtype, where
        np.testing.assert_array_equal(ours, theirs, err_msg=where)
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} vs torch's {theirs!r}"


def records(lib):
    """A map-style dataset of its own: each sample a dict of tensors, numbers, a string, an array and a tuple."""
    class Records(lib.utils.data.Dataset):
        def __init__(self):
            self.x = lib.tensor(FEATURES)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i], "label": int(LABELS[i]), "weight": i / 4, "name": f"s{i}",
                    "array": np.arange(3, dtype=np.int32) * i, "pair": (self.x[i, 0], np.float64(i) / 3),
                    "point": Point(i, [i, -i])}
    return Records()


def tensors(lib):
    return lib.utils.data.TensorDataset(lib.tensor(FEATURES), lib.tensor(LABELS))


DATASETS = {
    "tensors": tensors,
    # float64 rows a batch of which the server takes (past the held-view size), one of them computed by the server
    "wide": lambda lib: lib.utils.data.TensorDataset(lib.tensor(WIDE), lib.tensor(WIDE[:, :5]) * 2),
    "subset": lambda lib: lib.utils.data.Subset(tensors(lib), [5, 1, 22, 3, 2, 9, 0]),
    "records": records,
    "floats": lambda lib: [0.5 * i for i in range(7)],
    "ints": lambda lib: list(range(7)),
    "bools": lambda lib: [i % 2 == 0 for i in range(5)],
    "arrays": lambda lib: [np.full((2, 2), i, np.float16) for i in range(5)],
    "tuples": lambda lib: [(np.float32(i), np.int64(-i), np.array([i, i + 1]), str(i)) for i in range(6)],
    "lists": lambda lib: [[lib.tensor([i, 2 * i]), float(i)] for i in range(5)],
}
LOADERS = {
    "batch 1": dict(batch_size=1),
    "batch 4": dict(batch_size=4),
    "batch 4, drop_last": dict(batch_size=4, drop_last=True),
    "one batch": dict(batch_size=64),
    "no batching": dict(batch_size=None),
    "batch_sampler": dict(batch_sampler=[[3, 1], [0, 2, 4], [4]]),
    "sampler": dict(sampler=[4, 3, 2, 1, 0], batch_size=2),
    "collate_fn": dict(batch_size=3, collate_fn=lambda samples: samples),
}


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_batches_are_torchs(dataset, loader):
    ours = gw.utils.data.DataLoader(DATASETS[dataset](gw), **LOADERS[loader])
    theirs = torch.utils.data.DataLoader(DATASETS[dataset](torch), **LOADERS[loader])
    assert len(ours) == len(theirs)
    for epoch in range(2):
        batches = iter(ours)
        assert len(batches) == len(theirs)
        got, want = list(batches), list(theirs)
        assert len(got) == len(want)
        for k, (a, b) in enumerate(zip(got, want)):
            same(a, b, f"epoch {epoch} batch {k}")


def test_collate_functions_match_torchs():
    for batch in ([1, 2], [1.5, 2], [(1, "a"), (2, "b")], [{"a": np.float64(1)}, {"a": np.float64(2)}],
                  [Point(1, 2.0), Point(3, 4.0)], [b"x", b"y"]):
        same(gw.utils.data.default_collate(batch), torch.utils.data.default_collate(batch), repr(batch))
    for data in (np.arange(3), (np.arange(2), 1), [np.float32(2), "a"], {"k": np.ones(2)}, Point(np.int8(1), 2)):
        same(gw.utils.data.default_convert(data), torch.utils.data.default_convert(data), repr(data))
    x = gw.tensor([1.0])
    assert gw.utils.data.default_convert(x) is x


def test_an_epoch_costs_no_request(counter):
    """Batches are recorded ops (or, for small held rows, values made by the client): iterating sends nothing, and
    reading a batch costs at most one request, none where the client holds the rows."""
    held = gw.utils.data.DataLoader(tensors(gw), batch_size=5)
    wide = gw.utils.data.DataLoader(DATASETS["wide"](gw), batch_size=8)
    own = gw.utils.data.DataLoader(records(gw), batch_size=5)
    gw.tensor(WIDE)._value()          # the embedded server's first request is past (the session is the test's)
    counter.reset()
    epochs = {name: list(loader) for name, loader in (("held", held), ("wide", wide), ("own", own))}
    assert sum(counter.calls.values()) == 0
    # A TensorDataset's batch is one op per tensor, not a stack of samples: rows the client took (a value), or
    # the server's `take` of the dataset tensor with the batch's indices.
    assert all(t._node.op is None and t._node.value is not None for batch in epochs["held"] for t in batch)
    wide_tensors = [t._node for t in wide.dataset.tensors]
    assert all(t._node.op == "take" and t._node.inputs[0] is source and t._node.inputs[1].value is not None
               for batch in epochs["wide"] for t, source in zip(batch, wide_tensors))
    for X, y in epochs["held"]:
        X.tolist(), y.tolist()
    for sample in epochs["own"]:
        sample["x"].tolist(), sample["pair"][0].tolist()
    assert sum(counter.calls.values()) == 0
    for X, y in epochs["wide"]:
        (X.sum() + y.sum()).item()
    assert 1 <= counter.calls["Evaluate"] <= len(wide) and sum(counter.calls.values()) == counter.calls["Evaluate"]


def test_gradients_flow_through_batches_as_in_torch():
    """A dataset tensor with history: batches carry it (torch's StackBackward0), and gradients reach the tensor."""
    results = []
    for lib in (gw, torch):
        x = lib.tensor(WIDE[:10, :4], requires_grad=True)
        loader = lib.utils.data.DataLoader(lib.utils.data.TensorDataset(x * 3), batch_size=4)
        total = 0
        for k, (batch,) in enumerate(loader):
            total = total + (batch * (k + 1)).sin().sum()
            name = batch.grad_fn.name()
        total.backward()
        results.append((name, x.grad.numpy()))
    assert results[0][0] == results[1][0] == "StackBackward0"
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


def test_d2l_linear_regression_trains_as_torch_does():
    """The course book's concise linear regression (load_array, nn.Linear, MSELoss, SGD), unshuffled so both
    libraries see the same batches: the same parameters at the end."""
    X = RNG.standard_normal((100, 2)).astype(np.float32)
    y = (X @ np.array([2.0, -3.4], np.float32) + 4.2 + RNG.normal(0, 0.01, 100)).astype(np.float32).reshape(-1, 1)
    w0 = RNG.normal(0, 0.01, (1, 2)).astype(np.float32)
    params = []
    for lib in (gw, torch):
        data = lib.utils.data

        def load_array(data_arrays, batch_size, is_train=True):
            return data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=is_train)
        data_iter = load_array((lib.tensor(X), lib.tensor(y)), 10, is_train=False)
        net = lib.nn.Sequential(lib.nn.Linear(2, 1))
        net[0].weight.data.copy_(lib.tensor(w0))
        net[0].bias.data.fill_(0)
        loss, trainer = lib.nn.MSELoss(), lib.optim.SGD(net.parameters(), lr=0.03)
        for _ in range(2):
            for Xb, yb in data_iter:
                trainer.zero_grad()
                loss(net(Xb), yb).backward()
                trainer.step()
        params.append([p.detach().numpy() for p in net.parameters()])
    for ours, theirs in zip(*params):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


# -- shuffling ---------------------------------------------------------------------------------------------------
def epochs(loader, count=3) -> list[list[int]]:
    return [[i for _, y in loader for i in y.tolist()] for _ in range(count)]


def test_shuffled_epochs_are_permutations_in_new_orders():
    n = 50
    ds = gw.utils.data.TensorDataset(gw.zeros(n, 2), gw.arange(n))
    orders = epochs(gw.utils.data.DataLoader(ds, batch_size=7, shuffle=True))
    for order in orders:
        assert sorted(order) == list(range(n))
    assert len({tuple(o) for o in orders}) == 3 and all(o != list(range(n)) for o in orders)
    dropped = [[len(y) for _, y in gw.utils.data.DataLoader(ds, batch_size=7, shuffle=True, drop_last=True)]]
    assert dropped == [[7] * (n // 7)]


def test_a_seeded_generator_gives_the_same_orders():
    ds = gw.utils.data.TensorDataset(gw.zeros(30), gw.arange(30))

    def run(generator):
        return epochs(gw.utils.data.DataLoader(ds, batch_size=4, shuffle=True, generator=generator))
    g = gw.Generator().manual_seed(2024)
    first = run(g)
    assert run(gw.Generator().manual_seed(2024)) == first
    assert run(g.manual_seed(2024)) == first
    assert run(gw.Generator().manual_seed(7)) != first
    gw.manual_seed(5)                   # no generator: each epoch seeds one from the default generator
    unseeded = run(None)
    gw.manual_seed(5)
    assert run(None) == unseeded
    # The sampler's order is gw.randperm's for the same seed (one stream of draws).
    assert list(gw.utils.data.RandomSampler(range(30), generator=gw.Generator().manual_seed(9))) == \
        gw.randperm(30, generator=gw.Generator().manual_seed(9)).tolist()


def test_samplers():
    data = gw.utils.data
    g = gw.Generator().manual_seed(1)
    drawn = list(data.RandomSampler(range(10), replacement=True, num_samples=70, generator=g))
    assert len(drawn) == 70 and set(drawn) <= set(range(10)) and len(set(drawn)) > 5
    longer = list(data.RandomSampler(range(10), num_samples=25, generator=g))
    assert sorted(longer[:10]) == sorted(longer[10:20]) == list(range(10)) and len(longer) == 25
    assert sorted(data.SubsetRandomSampler([3, 8, 5], generator=g)) == [3, 5, 8]
    for lib in (gw, torch):
        assert list(lib.utils.data.SequentialSampler("abc")) == [0, 1, 2]
    for args in (([range(10)], 3, False), ([range(10)], 3, True), (range(7), 7, True), (range(7), 8, True)):
        ours, theirs = gw.utils.data.BatchSampler(*args), torch.utils.data.BatchSampler(*args)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_random_split_as_torchs():
    ds = gw.utils.data.TensorDataset(gw.arange(10))
    for lengths in ([3, 7], [0.33, 0.33, 0.34], [0.5, 0.5], [10, 0]):
        ours = gw.utils.data.random_split(ds, lengths, generator=gw.Generator().manual_seed(3))
        theirs = torch.utils.data.random_split(range(10), lengths, generator=torch.Generator().manual_seed(3))
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        values = [int(s[i][0]) for s in ours for i in range(len(s))]
        assert sorted(values) == list(range(10))
        again = gw.utils.data.random_split(ds, lengths, generator=gw.Generator().manual_seed(3))
        assert [s.indices for s in again] == [s.indices for s in ours]
    with warnings.catch_warnings(record=True) as ours, warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        gw.utils.data.random_split(range(2), [0.2, 0.8])
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        torch.utils.data.random_split(range(2), [0.2, 0.8])
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    split = gw.utils.data.random_split(ds, [4, 6], generator=gw.Generator().manual_seed(8))[1]
    assert [i for (x,) in gw.utils.data.DataLoader(split, batch_size=4) for i in x.tolist()] == split.indices


# -- errors --------------------------------------------------------------------------------------------------------
def raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001  (compared with torch's)
        return type(e).__name__, str(e)
    return None


def test_subset_indexing_matches_torchs():
    ours, theirs = (lib.utils.data.Subset(tensors(lib), [4, 0, 2]) for lib in (gw, torch))
    assert len(ours) == len(theirs) == 3
    same(ours[1], theirs[1])
    same(ours[[0, 2]], theirs[[0, 2]])
    same(ours.__getitems__([2, 1]), theirs.__getitems__([2, 1]))


ERRORS = {
    "negative workers": lambda lib: lib.utils.data.DataLoader([1], num_workers=-1),
    "prefetch_factor": lambda lib: lib.utils.data.DataLoader([1], prefetch_factor=2),
    "persistent_workers": lambda lib: lib.utils.data.DataLoader([1], persistent_workers=True),
    "timeout": lambda lib: lib.utils.data.DataLoader([1], timeout=-1),
    "multiprocessing_context": lambda lib: lib.utils.data.DataLoader([1], multiprocessing_context="fork"),
    "sampler and shuffle": lambda lib: lib.utils.data.DataLoader([1], sampler=[0], shuffle=True),
    "batch_sampler and batch_size": lambda lib: lib.utils.data.DataLoader([1], batch_sampler=[[0]], batch_size=2),
    "batch_size None and drop_last": lambda lib: lib.utils.data.DataLoader([1], batch_size=None, drop_last=True),
    "batch_size 0": lambda lib: lib.utils.data.DataLoader([1], batch_size=0),
    "batch_size float": lambda lib: lib.utils.data.DataLoader([1], batch_size=2.0),
    "drop_last not bool": lambda lib: lib.utils.data.BatchSampler([1], 1, 0),
    "replacement not bool": lambda lib: lib.utils.data.RandomSampler([1], replacement=1),
    "num_samples 0": lambda lib: lib.utils.data.RandomSampler([], ),
    "set after init": lambda lib: setattr(lib.utils.data.DataLoader([1]), "batch_size", 3),
    "size mismatch": lambda lib: lib.utils.data.TensorDataset(lib.ones(2), lib.ones(3)),
    "0-d tensor": lambda lib: lib.utils.data.TensorDataset(lib.tensor(1.0)),
    "index past the end": lambda lib: list(lib.utils.data.DataLoader(tensors(lib), sampler=[0, 23], batch_size=2)),
    "base Dataset": lambda lib: lib.utils.data.Dataset()[0],
    "no len": lambda lib: len(lib.utils.data.Dataset()),
    "object samples": lambda lib: list(lib.utils.data.DataLoader([object()], batch_size=2)),
    "unequal lists": lambda lib: list(lib.utils.data.DataLoader([[1, 2], [3]], batch_size=2)),
    "string arrays": lambda lib: list(lib.utils.data.DataLoader([np.array(["a"])], batch_size=2)),
    "empty batch": lambda lib: lib.utils.data.default_collate([]),
    "sum of lengths": lambda lib: lib.utils.data.random_split(range(10), [3, 3]),
    "fraction": lambda lib: lib.utils.data.random_split(range(10), [1.5, -0.5]),
    "Subset override": lambda lib: type("S", (lib.utils.data.Subset,), {"__getitem__": lambda s, i: i})([], []),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_are_torchs(case):
    theirs = raised(lambda: ERRORS[case](torch))
    assert theirs is not None
    assert raised(lambda: ERRORS[case](gw)) == theirs


def test_worker_processes_are_refused_plainly():
    with pytest.raises(ValueError, match=r"worker processes are not supported.*got num_workers=4"):
        gw.utils.data.DataLoader([1, 2], num_workers=4)
    assert gw.utils.data.DataLoader([1, 2], num_workers=0).num_workers == 0


def test_pin_memory_warns_as_torch_and_changes_nothing():
    messages = []
    for lib in (gw, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            batches = list(lib.utils.data.DataLoader(range(5), batch_size=2, pin_memory=True))
        messages.append([str(w.message) for w in caught])
        assert [b.tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert messages[0] == messages[1] and messages[0]
