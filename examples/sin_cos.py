"""The notes' exercise: plot sin(x) and its gradient, cos(x), computed by gradwire.

Usage: python examples/sin_cos.py OUTPUT.png [TARGET]
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import gradwire as gw  # noqa: E402


def main(path, target=None):
    with gw.connect(target) as torch:
        x = torch.linspace(-2 * torch.pi, 2 * torch.pi, 200, requires_grad=True)
        y = torch.sin(x)
        y.backward(torch.ones_like(x))
        plt.plot(x.detach(), y.detach(), label='sin(x)')
        plt.plot(x.detach(), x.grad, label='cos(x)')
        plt.legend()
        plt.savefig(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
