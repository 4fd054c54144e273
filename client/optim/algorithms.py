"""SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax and NAdam with PyTorch's update formulas (its
single-tensor implementations, operation for operation, so float64 runs agree to rounding)."""
from __future__ import annotations

import gradwire as gw

from .optimizer import Optimizer, required


def _check(name, value, low=0.0):
    if value < low:
        raise ValueError(f"Invalid {name}: {value}")


def _check_betas(betas):
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def _count_step(state) -> float:
    """One more step in state["step"], a scalar tensor as PyTorch keeps it (counted here: no request)."""
    step = state["step"].item() + 1
    state["step"] = gw.tensor(float(step))
    return step


def _direction(p, grad, group):
    """The gradient an update follows, as every PyTorch optimizer begins: negated to maximize, plus weight_decay
    times the parameter (L2), or, with decoupled_weight_decay, the parameter shrunk by lr * weight_decay."""
    grad = -grad if group["maximize"] else grad
    wd = group["weight_decay"]
    if wd == 0:
        return grad
    if group.get("decoupled_weight_decay"):
        p.mul_(1 - group["lr"] * wd)
        return grad
    return grad + p * wd


def _addcmul(t, a, b, value):
    """t + value * a * b (PyTorch's addcmul_, in place)."""
    return t.add_(a * b * value) if value != 1 else t.add_(a * b)


def _addcdiv(t, a, b, value):
    """t + value * a / b (PyTorch's addcdiv_, in place)."""
    return t.add_(a / b * value) if value != 1 else t.add_(a / b)


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check("learning rate", lr)
        _check("momentum value", momentum)
        _check("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _update(self, p, grad, state, group):
        grad = _direction(p, grad, group)
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.clone().detach()
            else:
                buf.mul_(momentum).add_(grad * (1 - group["dampening"]))
            grad = grad + buf * momentum if group["nesterov"] else buf
        p.add_(grad * -group["lr"])


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check("learning rate", lr)
        _check("epsilon value", eps)
        _check_betas(betas)
        _check("weight_decay value", weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p, grad, state, group):
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        if not state:
            state["step"] = gw.tensor(0.0)
            state["exp_avg"] = gw.zeros_like(p)
            state["exp_avg_sq"] = gw.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = gw.zeros_like(p)
        step = _count_step(state)
        grad = _direction(p, grad, group)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        _addcmul(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        step_size = lr / bias_correction1
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = gw.maximum(state["max_exp_avg_sq"], exp_avg_sq)
            denom = state["max_exp_avg_sq"].sqrt() / bias_correction2_sqrt + group["eps"]
        else:
            denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + group["eps"]
        _addcdiv(p, exp_avg, denom, -step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay (the parameter shrinks by lr * weight_decay before the step)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:     # as PyTorch: AdamW decouples whatever a loaded (Adam) dict says
            group["decoupled_weight_decay"] = True


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check("learning rate", lr)
        _check("epsilon value", eps)
        _check("momentum value", momentum)
        _check("weight_decay value", weight_decay)
        _check("alpha value", alpha)
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _update(self, p, grad, state, group):
        alpha = group["alpha"]
        if not state:
            state["step"] = gw.tensor(0.0)
            state["square_avg"] = gw.zeros_like(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = gw.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = gw.zeros_like(p)
        _count_step(state)
        grad = _direction(p, grad, group)
        square_avg = state["square_avg"]
        _addcmul(square_avg.mul_(alpha), grad, grad, 1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.lerp_(grad, 1 - alpha)
            avg = (square_avg - grad_avg * grad_avg).sqrt()
        else:
            avg = square_avg.sqrt()
        avg = avg + group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            _addcdiv(buf.mul_(group["momentum"]), grad, avg, 1)
            p.add_(buf * -group["lr"])
        else:
            _addcdiv(p, grad, avg, -group["lr"])


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check("learning rate", lr)
        _check("lr_decay value", lr_decay)
        _check("weight_decay value", weight_decay)
        _check("initial_accumulator_value value", initial_accumulator_value)
        _check("epsilon value", eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["step"] = gw.tensor(0.0)
                self.state[p]["sum"] = gw.full_like(p, group["initial_accumulator_value"])

    def _update(self, p, grad, state, group):
        step = _count_step(state)
        grad = _direction(p, grad, group)
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        _addcmul(state["sum"], grad, grad, 1)
        std = state["sum"].sqrt() + group["eps"]
        _addcdiv(p, grad, std, -clr)


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check("learning rate", lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check("epsilon value", eps)
        _check("weight_decay value", weight_decay)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      capturable=capturable, foreach=foreach, differentiable=differentiable))

    def _update(self, p, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = gw.tensor(0.0)
            state["square_avg"] = gw.zeros_like(p)
            state["acc_delta"] = gw.zeros_like(p)
        _count_step(state)
        grad = _direction(p, grad, group)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        _addcmul(square_avg.mul_(rho), grad, grad, 1 - rho)
        delta = (acc_delta + eps).sqrt() / (square_avg + eps).sqrt() * grad
        _addcmul(acc_delta.mul_(rho), delta, delta, 1 - rho)
        p.add_(delta * -group["lr"])


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check("learning rate", lr)
        _check("epsilon value", eps)
        _check_betas(betas)
        _check("weight_decay value", weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _update(self, p, grad, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = gw.tensor(0.0)
            state["exp_avg"] = gw.zeros_like(p)
            state["exp_inf"] = gw.zeros_like(p)
        step = _count_step(state)
        grad = _direction(p, grad, group)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_inf.copy_(gw.maximum(exp_inf.mul_(beta2), grad.abs() + group["eps"]))
        _addcdiv(p, exp_avg, exp_inf, -group["lr"] / (1 - beta1 ** step))


class NAdam(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check("learning rate", lr)
        _check("epsilon value", eps)
        _check_betas(betas)
        _check("weight_decay value", weight_decay)
        _check("momentum_decay value", momentum_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def _update(self, p, grad, state, group):
        beta1, beta2 = group["betas"]
        lr, psi = group["lr"], group["momentum_decay"]
        if not state:
            state["step"] = gw.tensor(0.0)
            state["mu_product"] = gw.tensor(1.0)
            state["exp_avg"] = gw.zeros_like(p)
            state["exp_avg_sq"] = gw.zeros_like(p)
        step = _count_step(state)
        grad = _direction(p, grad, group)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
        # The product of the mu's is a scalar tensor in PyTorch, so it rounds to its dtype (float32) every step.
        product = state["mu_product"].numpy()
        product = product * product.dtype.type(mu)
        state["mu_product"] = gw.tensor(product)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        _addcmul(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
        denom = (exp_avg_sq / (1 - beta2 ** step)).sqrt() + group["eps"]
        _addcdiv(p, grad, denom, -lr * (1.0 - mu) / (1.0 - float(product)))
        _addcdiv(p, exp_avg, denom, -lr * mu_next / (1.0 - float(product) * mu_next))
