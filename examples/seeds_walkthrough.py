"""The course notes' autograd walk-through, run through gradwire (prints what the notes print).

Usage: python examples/seeds_walkthrough.py [TARGET]   (no target: an embedded local server)
"""
import sys

import gradwire as gw


def f(a):
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def main(target=None):
    with gw.connect(target) as torch:          # a session offers the same names as the module
        x = torch.arange(4.0)
        print('x =', x)
        print(x.shape)
        print(x * x)
        print(torch.dot(x, x))

        x.requires_grad_(True)
        print('x.grad =', x.grad)
        y = 2 * torch.dot(x, x)
        print('y =', y)
        y.backward()
        print('x.grad =', x.grad)
        print(x.grad == 4 * x)

        x.grad.zero_()
        y = x.sum()
        print("y:", y)
        y.backward()
        print(x.grad)

        x.grad.zero_()
        y = x * x
        print("y:", y)
        y.sum().backward()
        print("y.sum():", y.sum())
        print("x.grad:", x.grad)
        print(x.grad == 2 * x)

        x.grad.zero_()
        y = x * x
        u = y.detach()
        print(u)
        z = u * x
        z.sum().backward()
        print(x.grad == u)

        x.grad.zero_()
        y.sum().backward()
        print(x.grad == 2 * x)

        a = torch.tensor(-0.8566, requires_grad=True)
        print(a)
        d = f(a)
        d.backward()
        print(a.grad)
        print(d / a)
        print(a.grad == d / a)

        try:
            y = 2 * torch.dot(x, x)
            y.backward()
            y.backward()
        except RuntimeError as e:
            print("RuntimeError:", str(e).split(".")[0])

        x1 = torch.tensor(3.0, requires_grad=True)
        x2 = torch.tensor(4.0, requires_grad=True)
        x3 = torch.tensor(2.0, requires_grad=True)
        y = 2 * x1 + 5 * x2 + x3 ** 2
        y.backward()
        print("Gradient of x1:", x1.grad.item())
        print("Gradient of x2:", x2.grad.item())
        print("Gradient of x3:", x3.grad.item())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
