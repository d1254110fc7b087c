"""log p(target) of a linear softmax layer, with the gradient written by hand.

    logits = s W^T + c                         # (N, V)
    P      = softmax(logits)                   # (N, V)
    logp_i = log P[i, y_i]
    d logp_i / d logits[i] = onehot(y_i) - P[i]

Autograd's route (linear -> log_softmax -> nll_loss) walks several (N, V)
buffers in its backward: nll_loss's scattered zeros, log_softmax's gradient,
and under bf16 autocast two dtype copies. With a 10k-word vocabulary on a CPU
those passes cost as much as the matmuls. Here the forward keeps one (N, V)
buffer, G = P - onehot(y), and the backward is two matmuls with it. The
per-token weights of the loss (usually 1/N) scale whichever side is smaller:
the (N, H) factors for a word vocabulary, G itself for a character one.

Under bf16 autocast the matmuls and G are bf16; the softmax and the returned
log-probabilities are computed in fp32, and the target entries of G (P - 1,
which cancels badly near P = 1) come from the fp32 log-probability.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """The dtype autocast would give a matmul on `tensor`'s device now."""
    device = tensor.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return tensor.dtype


def at_least_fp32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def target_logprobs_exact(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # (n, V), (n,) -> (n,) log_softmax at the targets, for rows whose P[target] underflowed
    logits = at_least_fp32(logits)
    return logits.gather(1, targets[:, None]).squeeze(1) - torch.logsumexp(logits, dim=1)


class LinearTargetLogProb(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, dtype):
        # hidden (N, H), weight (V, H), bias (V,) or None, targets (N,) -> log p(target) (N,), fp32 (fp64 for fp64)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
        with torch.autocast(hidden.device.type, enabled=False):
            logits = hidden @ weight.t()                                         # (N, V)
            if bias is None:
                logits = at_least_fp32(logits)
            else:
                bias = at_least_fp32(bias)
                logits = logits.add_(bias) if logits.dtype == bias.dtype else logits + bias  # fp32 either way
            probs = torch.softmax(logits, dim=1)                                 # (N, V)
            logp = probs.gather(1, targets[:, None]).squeeze(1).log()            # (N,)
            underflow = ~torch.isfinite(logp)
            if underflow.any():
                logp[underflow] = target_logprobs_exact(logits[underflow], targets[underflow])
            del logits
            if not any(ctx.needs_input_grad[:3]):  # scoring only: no gradient to prepare
                return logp
            grads = probs.scatter_(1, targets[:, None], torch.expm1(logp)[:, None]).to(dtype)  # P - onehot(y)
        ctx.save_for_backward(hidden, weight, grads)
        return logp

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        # grad (N,) -> gradients of hidden (N, H), weight (V, H), bias (V,)
        hidden, weight, grads = ctx.saved_tensors
        needs, (hidden_dtype, weight_dtype, bias_dtype) = ctx.needs_input_grad, ctx.dtypes
        scale = -at_least_fp32(grad)[:, None]            # (N, 1): d loss / d logits = scale * G
        if grads.shape[1] <= hidden.shape[1]:           # small vocabulary: scaling G is the cheaper side
            grads = (grads * scale).to(grads.dtype)
            row_weights, out_scale = torch.ones_like(grads[:, 0]), None
        else:                                           # large vocabulary: scale the (N, H) factors, never G
            hidden = (hidden * scale).to(grads.dtype)
            row_weights, out_scale = scale[:, 0].to(grads.dtype), scale
        grad_hidden = grad_weight = grad_bias = None
        if needs[0]:
            grad_hidden = grads @ weight                                          # (N, H)
            grad_hidden = (grad_hidden if out_scale is None else grad_hidden * out_scale).to(hidden_dtype)
        if needs[1]:
            grad_weight = (grads.t() @ hidden).to(weight_dtype)                  # (V, H)
        if needs[2]:  # never for a layer without a bias
            grad_bias = (grads.t() @ row_weights).to(bias_dtype)                 # (V,)
        return grad_hidden, grad_weight, grad_bias, None, None


def linear_target_logprobs(hidden: torch.Tensor, linear: torch.nn.Linear, targets: torch.Tensor) -> torch.Tensor:
    """(N, H) hidden states, (N,) targets -> (N,) fp32 log-probabilities of the targets under softmax(linear(hidden));
    `linear` with or without a bias."""
    dtype = compute_dtype(hidden)
    return LinearTargetLogProb.apply(hidden, linear.weight, linear.bias, targets, dtype)
