"""Train a small convolutional network on a synthetic image set through gradwire and through PyTorch, from the same
initial parameters (in float64, so the two runs agree to rounding at every step), and plot the two loss curves.

    python examples/cnn_train.py [out.png]

The images are 28x28: a horizontal bar, a vertical bar or a diagonal, at a random place, with noise. The model is
LeNet-5's shape (two 5x5 convolutions with max pooling, three linear layers). The same program runs with
`lib = gradwire` and `lib = torch`; gradwire's math runs on its server (here an embedded one).
"""
from __future__ import annotations

import sys
import time

import numpy as np

import gradwire as gw

CLASSES = 3
STEPS = 80
BATCH = 32


def images(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(0.0, 0.3, (n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, CLASSES, n)
    for i, c in enumerate(y):
        r, s = rng.integers(4, 24, 2)
        if c == 0:
            x[i, 0, r - 1:r + 2, 4:24] += 1.0
        elif c == 1:
            x[i, 0, 4:24, s - 1:s + 2] += 1.0
        else:
            for k in range(-8, 9):
                x[i, 0, np.clip(14 + k, 0, 27), np.clip(14 + k + (s - 14) // 2, 0, 27)] += 1.5
    return x, y


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                         nn.Linear(32, CLASSES))


def train(lib, state, data) -> tuple[list[float], float, float]:
    model = lenet(lib).double()         # float64: the two runs stay together to rounding over every step
    model.load_state_dict(state)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    start = time.perf_counter()
    for step in range(STEPS):
        x, y = data[step]
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(lib.tensor(x, dtype=lib.float64)), lib.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss)
    losses = [float(v.item()) for v in losses]       # read at the end: the loop itself never waits
    seconds = time.perf_counter() - start
    xt, yt = data[-1]
    with lib.no_grad():
        accuracy = float((model(lib.tensor(xt, dtype=lib.float64)).argmax(1) == lib.tensor(yt)).float().mean().item())
    return losses, accuracy, seconds


def main(out: str | None) -> None:
    rng = np.random.default_rng(0)
    data = [images(BATCH, rng) for _ in range(STEPS)] + [images(256, rng)]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.manual_seed(0)
        torch.set_num_threads(2)
        state = lenet(torch).state_dict()
    else:
        gw.manual_seed(0)
        state = lenet(gw).state_dict()
    ours, acc, secs = train(gw, state, data)
    print(f"gradwire: loss {ours[0]:.4f} -> {ours[-1]:.4f}, test accuracy {acc:.3f}, {STEPS} steps in {secs:.2f} s")
    theirs = None
    if torch is not None:
        theirs, tacc, tsecs = train(torch, state, data)
        print(f"PyTorch:  loss {theirs[0]:.4f} -> {theirs[-1]:.4f}, test accuracy {tacc:.3f}, {STEPS} steps in "
              f"{tsecs:.2f} s")
        print(f"largest loss difference over the run: {max(abs(a - b) for a, b in zip(ours, theirs)):.2e}")
    if out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(ours, label="gradwire", lw=2)
        if theirs is not None:
            ax.plot(theirs, "--", label="PyTorch", lw=1.5)
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy")
        ax.set_yscale("log")
        ax.set_title("LeNet-5 on synthetic bars, Adam(lr=1e-3), float64")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
