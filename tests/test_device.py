"""Devices against a CPU-only torch: gw.device parses, prints and compares as torch.device; every tensor is on the
CPU; naming the CPU anywhere (factories, Tensor.to, Module.to) changes nothing, and naming CUDA raises torch's
error; the course book's device helpers run unchanged."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401

pytestmark = pytest.mark.usefixtures("session")


def outcome(fn):
    """(value's repr and str) or (exception type, message), to compare with torch's."""
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001  (compared with torch's)
        return "raised", type(e).__name__, str(e)
    return "ok", repr(value), str(value)


DEVICES = [("cpu",), ("cpu", 0), ("cpu:0",), ("cpu", None), ("cuda",), ("cuda:1",), ("cuda", 1), ("mps",), ("meta",),
           ("privateuseone",), (0,), (-1,), ("foo",), ("CPU",), ("cpu_x",), (" cpu",), ("cpu:",), ("cpu0",), ("",),
           ("cpu:-1",), ("cpu:x",), ("cuda:01",), ("cuda:1:2",), ("c-p",), ("cpu", -1), ("cpu:0", 1), ("cpu", "a"),
           ("cpu", True), (None,), (1.5,), (True,)]


@pytest.mark.parametrize("args", DEVICES, ids=repr)
def test_device_is_torchs(args):
    assert outcome(lambda: gw.device(*args)) == outcome(lambda: torch.device(*args))
    if outcome(lambda: torch.device(*args))[0] == "ok":
        ours, theirs = gw.device(*args), torch.device(*args)
        assert (ours.type, ours.index) == (theirs.type, theirs.index)
        assert gw.device(ours) == ours and hash(gw.device(*args)) == hash(ours)
        assert pickle.loads(pickle.dumps(ours)) == ours


def test_device_equality_and_keywords_as_torch():
    for lib in (gw, torch):
        d = lib.device("cpu")
        assert d == lib.device("cpu") and not d != lib.device("cpu") and d != lib.device("cpu", 0)
        assert (d == "cpu") is False and (d == 1) is False         # a string never equals a device
        assert lib.device("cuda", 0) == lib.device("cuda:0") and lib.device(type="cpu", index=0).index == 0
        assert {d: 1}[lib.device("cpu")] == 1 and f"{d}" == "cpu" and format(lib.device("cpu", 0)) == "cpu:0"
    assert outcome(lambda: gw.device(gw.device("cpu"), 0)) == \
        outcome(lambda: torch.device(torch.device("cpu"), 0))


def test_tensors_are_on_the_cpu():
    for lib in (gw, torch):
        x = lib.ones(2, 3)
        assert repr(x.device) == "device(type='cpu')" and x.device == lib.device("cpu") and x.device.index is None
        assert x.is_cuda is False and x.is_cpu is True and x.get_device() == -1
        assert x.cpu() is x and x.to("cpu") is x and x.to(lib.device("cpu")) is x
        assert x.to(device="cpu:0") is not x and x.to("cpu:0").tolist() == x.tolist()     # another device: a copy
        assert x.to("cpu", lib.float64).dtype == x.to(lib.device("cpu"), dtype=lib.float64).dtype == lib.float64
        assert x.to(None) is x
        y = lib.ones(2, requires_grad=True)
        assert y.cpu() is y
    assert isinstance(gw.ones(1).device, gw.device)
    assert gw.Generator(gw.device("cpu")).device == gw.device("cpu")
    assert repr(gw.Generator("cpu:0").device) == repr(torch.Generator("cpu:0").device) == "device(type='cpu')"


MOVES = {
    "to cuda": lambda lib: lib.ones(2).to("cuda"),
    "to cuda device": lambda lib: lib.ones(2).to(lib.device("cuda", 0)),
    "to cuda keyword": lambda lib: lib.ones(2).to(device="cuda"),
    "to cuda with dtype": lambda lib: lib.ones(2).to("cuda", lib.float64),
    "to an index": lambda lib: lib.ones(2).to(5),
    "to a bad name": lambda lib: lib.ones(2).to("foo"),
    "cuda()": lambda lib: lib.ones(2).cuda(),
    "cuda(0)": lambda lib: lib.ones(2).cuda(0),
    "cuda('cuda:0')": lambda lib: lib.ones(2).cuda("cuda:0"),
    "module to cuda": lambda lib: lib.nn.Linear(2, 3).to("cuda"),
    "module cuda()": lambda lib: lib.nn.Linear(2, 3).cuda(),
    "module to an int dtype": lambda lib: lib.nn.Linear(2, 3).to(lib.int64),
    "module to an index": lambda lib: lib.nn.Linear(2, 3).to(5),
    "module to a bad name": lambda lib: lib.nn.Linear(2, 3).to("foo"),
    "module without parameters": lambda lib: lib.nn.ReLU().cuda(),
}


@pytest.mark.parametrize("case", MOVES)
def test_moves_are_torchs(case):
    assert outcome(lambda: MOVES[case](gw)) == outcome(lambda: MOVES[case](torch))


def test_module_to_a_device_and_a_dtype():
    for lib in (gw, torch):
        net = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3))
        assert net.to("cpu") is net and net.to(lib.device("cpu")) is net and net.cpu() is net
        assert next(net.parameters()).device == lib.device("cpu")
        net.to("cpu", lib.float64)
        assert net[0].weight.dtype == lib.float64 and net[1].running_mean.dtype == lib.float64
        assert net[1].num_batches_tracked.dtype == lib.int64            # only floating-point tensors convert
        net.to(lib.zeros(1, dtype=lib.float32))
        assert net[0].bias.dtype == lib.float32
        net.to(device="cpu", dtype=lib.float64)
        assert net[0].weight.dtype == lib.float64


FACTORIES = {
    "zeros": lambda lib, d: lib.zeros(2, 3, device=d),
    "ones": lambda lib, d: lib.ones(2, device=d),
    "empty": lambda lib, d: lib.empty(2, device=d).shape,
    "full": lambda lib, d: lib.full((2,), 1.5, device=d),
    "tensor": lambda lib, d: lib.tensor([1.0, 2.0], device=d),
    "as_tensor": lambda lib, d: lib.as_tensor([1, 2], device=d),
    "arange": lambda lib, d: lib.arange(4, device=d),
    "linspace": lambda lib, d: lib.linspace(0, 1, 3, device=d),
    "logspace": lambda lib, d: lib.logspace(0, 1, 3, device=d),
    "eye": lambda lib, d: lib.eye(2, device=d),
    "tril_indices": lambda lib, d: lib.tril_indices(3, 3, device=d),
    "triu_indices": lambda lib, d: lib.triu_indices(3, 3, device=d),
    "zeros_like": lambda lib, d: lib.zeros_like(lib.ones(2), device=d),
    "ones_like": lambda lib, d: lib.ones_like(lib.ones(2), device=d),
    "full_like": lambda lib, d: lib.full_like(lib.ones(2), 3, device=d),
    "empty_like": lambda lib, d: lib.empty_like(lib.ones(2), device=d).shape,
    "rand": lambda lib, d: lib.rand(2, device=d).shape,
    "randn": lambda lib, d: lib.randn(2, device=d).shape,
    "rand_like": lambda lib, d: lib.rand_like(lib.ones(2), device=d).shape,
    "randn_like": lambda lib, d: lib.randn_like(lib.ones(2), device=d).shape,
    "randint": lambda lib, d: lib.randint(3, (2,), device=d).shape,
    "randint_like": lambda lib, d: lib.randint_like(lib.ones(2), 3, device=d).shape,
    "randperm": lambda lib, d: lib.randperm(3, device=d).shape,
    "normal": lambda lib, d: lib.normal(0.0, 1.0, (2,), device=d).shape,
    "new_zeros": lambda lib, d: lib.ones(2).new_zeros(3, device=d),
    "new_ones": lambda lib, d: lib.ones(2).new_ones(3, device=d),
    "new_full": lambda lib, d: lib.ones(2).new_full((3,), 2.0, device=d),
    "new_empty": lambda lib, d: lib.ones(2).new_empty(3, device=d).shape,
    "new_tensor": lambda lib, d: lib.ones(2).new_tensor([1, 2], device=d),
    "Linear": lambda lib, d: lib.nn.Linear(2, 3, device=d).weight.shape,
    "Conv2d": lambda lib, d: lib.nn.Conv2d(1, 2, 3, device=d).weight.shape,
    "BatchNorm1d": lambda lib, d: lib.nn.BatchNorm1d(3, affine=False, device=d).running_mean.shape,
    "Embedding": lambda lib, d: lib.nn.Embedding(4, 2, device=d).weight.shape,
}
DEVICE_ARGUMENTS = {"None": lambda lib: None, "'cpu'": lambda lib: "cpu", "'cpu:1'": lambda lib: "cpu:1",
                    "device('cpu')": lambda lib: lib.device("cpu"), "'cuda'": lambda lib: "cuda",
                    "'cuda:0'": lambda lib: "cuda:0", "device('cuda')": lambda lib: lib.device("cuda"),
                    "'foo'": lambda lib: "foo", "0": lambda lib: 0, "-1": lambda lib: -1}


@pytest.mark.parametrize("where", DEVICE_ARGUMENTS)
@pytest.mark.parametrize("factory", FACTORIES)
def test_factories_take_torchs_devices(factory, where):
    assert outcome(lambda: FACTORIES[factory](gw, DEVICE_ARGUMENTS[where](gw))) == \
        outcome(lambda: FACTORIES[factory](torch, DEVICE_ARGUMENTS[where](torch)))


def test_cuda_namespace_is_a_cpu_only_torchs():
    for lib in (gw, torch):
        assert lib.cuda.is_available() is False and lib.cuda.device_count() == 0
        assert lib.cuda.manual_seed(0) is None and lib.cuda.manual_seed_all(0) is None
    with gw.connect() as torchlike:           # reachable from a session, as the other torch names are
        assert torchlike.cuda.device_count() == 0 and torchlike.device("cpu") == gw.device("cpu")


def test_d2l_device_helpers_run_unchanged(counter):
    """d2l's try_gpu / try_all_gpus, train_ch6's moves and its from-scratch BatchNorm's device check."""
    results = []
    for lib in (gw, torch):
        nn = lib.nn

        def try_gpu(i=0):
            if lib.cuda.device_count() >= i + 1:
                return lib.device(f"cuda:{i}")
            return lib.device("cpu")

        def try_all_gpus():
            devices = [lib.device(f"cuda:{i}") for i in range(lib.cuda.device_count())]
            return devices if devices else [lib.device("cpu")]

        class BatchNorm(nn.Module):
            def __init__(self, num_features):
                super().__init__()
                self.gamma = nn.Parameter(lib.ones((1, num_features)))
                self.moving_mean = lib.zeros((1, num_features))

            def forward(self, X):
                if self.moving_mean.device != X.device:
                    self.moving_mean = self.moving_mean.to(X.device)
                return self.gamma * (X - self.moving_mean)

        device = try_gpu()
        assert try_all_gpus() == [device] and str(device) == "cpu" and try_gpu(3) == device
        net = nn.Sequential(nn.Linear(4, 3), BatchNorm(3))
        net.to(device)
        assert next(iter(net.parameters())).device == device
        X = lib.tensor(np.arange(8.0, dtype=np.float32).reshape(2, 4)).to(device)
        results.append(net(X.to(device)).shape)
        if lib is gw:
            counter.reset()
            for _ in range(3):
                X.to(device), net.to(device), next(net.parameters()).device
            assert sum(counter.calls.values()) == 0            # moves to the CPU cost nothing
    assert tuple(results[0]) == tuple(results[1])
