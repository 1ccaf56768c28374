"""PyTorch modules that the catalogue needs and torch.nn lacks in the needed form.

They are defined by a factory that is handed torch (this module must not import it), once per
torch module. Data is NCHW for images and [B, T, F] for sequences, as in the PyTorch engine.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any


@functools.cache
def torch_modules(torch: Any) -> SimpleNamespace:
    """The module classes, made with `torch`."""
    nn, F = torch.nn, torch.nn.functional

    class BatchNorm(nn.Module):
        """Batch normalisation over the channels whose running variance is the BIASED batch
        variance, as Keras keeps it (torch's BatchNorm keeps the unbiased one: inference with
        running statistics would then differ by a factor n / (n - 1) in the variance).

        `kept` is the Keras momentum (fraction of the running value kept). Training runs
        torch's own kernel and then corrects the running variance with per-channel arithmetic
        only: with m = 1 - kept, torch stored v' = kept v + m u, u = s n / (n - 1) the unbiased
        batch variance; Keras's kept v + m s equals (1 - 1/n) v' + kept v / n.
        """

        def __init__(self, channels: int, kept: float, eps: float, channels_last: bool):
            super().__init__()
            self.kept, self.eps, self.channels_last = kept, eps, channels_last
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))

        def forward(self, x: Any) -> Any:
            if self.channels_last:  # a sequence [B, T, C]: torch wants the channels second
                return self.normalise(x.transpose(1, 2)).transpose(1, 2)
            return self.normalise(x)

        def normalise(self, x: Any) -> Any:
            if not self.training:
                return F.batch_norm(x, self.running_mean, self.running_var, self.weight,
                                    self.bias, False, 0.0, self.eps)
            n = x.numel() // x.shape[1]
            # torch updates the variance it is given in place, and autograd keeps it for the
            # backward pass: give it a copy, and leave that copy alone afterwards.
            updated = self.running_var.clone()
            out = F.batch_norm(x, self.running_mean, updated, self.weight, self.bias,
                               True, 1.0 - self.kept, self.eps)
            with torch.no_grad():
                self.running_var.mul_(self.kept / n).add_(updated * (1.0 - 1.0 / n))
            return out

    class ChannelsLast(nn.Module):
        """Runs `inner` on an NCHW image as if it were NHWC (an operation over the last axis,
        which is the channels in Keras's layout)."""

        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class AlongTime(nn.Module):
        """Runs a channels-first 1-D module (Conv1d) on a sequence [B, T, F]."""

        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner(x.transpose(1, 2)).transpose(1, 2)

    class MeanOver(nn.Module):
        """The mean over some axes (global average pooling)."""

        def __init__(self, dims: tuple[int, ...]):
            super().__init__()
            self.dims = dims

        def forward(self, x: Any) -> Any:
            return x.mean(dim=self.dims)

    class PositionEmbedding(nn.Module):
        """A learned (T, E) table added to every sequence."""

        def __init__(self, steps: int, width: int):
            super().__init__()
            self.positions = nn.Parameter(torch.zeros(steps, width))

        def forward(self, x: Any) -> Any:
            return x + self.positions

    class SelfAttention(nn.Module):
        """nn.MultiheadAttention on [B, T, E] with query = key = value; a causal boolean mask
        marks with True what may NOT be attended (the opposite of Keras's attention_mask)."""

        def __init__(self, width: int, heads: int, steps: int, causal: bool):
            super().__init__()
            self.mha = nn.MultiheadAttention(width, heads, bias=True, batch_first=True)
            mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), 1) if causal else None
            self.register_buffer("mask", mask)

        def forward(self, x: Any) -> Any:
            out, _ = self.mha(x, x, x, attn_mask=self.mask, need_weights=False)
            return out

    class GRULayer(nn.Module):
        """nn.GRU on [B, T, F], batch first: every step's output or the last one."""

        def __init__(self, features: int, units: int, return_sequences: bool):
            super().__init__()
            self.gru = nn.GRU(features, units, batch_first=True)
            self.return_sequences = return_sequences

        def forward(self, x: Any) -> Any:
            out, _ = self.gru(x)
            return out if self.return_sequences else out[:, -1]

    class Residual(nn.Module):
        """shortcut(x) + f(x), in that order (as the Keras side adds them)."""

        def __init__(self, inner: list[Any], shortcut: Any | None):
            super().__init__()
            self.inner = nn.Sequential(*inner)
            self.shortcut = shortcut if shortcut is not None else nn.Identity()

        def forward(self, x: Any) -> Any:
            return self.shortcut(x) + self.inner(x)

    return SimpleNamespace(
        BatchNorm=BatchNorm, ChannelsLast=ChannelsLast, AlongTime=AlongTime, MeanOver=MeanOver,
        PositionEmbedding=PositionEmbedding, SelfAttention=SelfAttention, GRULayer=GRULayer,
        Residual=Residual)
