"""Shape inference, parameter counts and FLOP estimates for a layer stack (channels last)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .spec import LayerSpec, ScenarioError


@dataclass(frozen=True)
class LayerInfo:
    """What one layer turns its input into, and what it costs."""

    layer: LayerSpec
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    flops: int  # forward multiply-adds x 2, per sample


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def infer_layer(layer: LayerSpec, shape: tuple[int, ...], where: str) -> LayerInfo:
    """Infer one layer's output shape; raise ScenarioError naming `where` if it does not fit."""
    t = layer.type
    if t == "dense":
        if len(shape) != 1:
            raise ScenarioError(
                f"dense expects a flat input, got {_fmt(shape)}; add a flatten layer before it",
                field=where,
            )
        n_in, n_out = shape[0], layer.units
        return LayerInfo(layer, shape, (n_out,), n_in * n_out + n_out, 2 * n_in * n_out)
    if t == "conv2d":
        if len(shape) != 3:
            raise ScenarioError(
                f"conv2d expects an image input [H, W, C], got {_fmt(shape)}", field=where
            )
        h, w, c = shape
        k, s = layer.kernel_size, layer.stride
        if layer.padding == "same":
            ho, wo = math.ceil(h / s), math.ceil(w / s)
        else:
            ho, wo = (h - k) // s + 1, (w - k) // s + 1
        if ho < 1 or wo < 1 or (layer.padding == "valid" and (k > h or k > w)):
            raise ScenarioError(
                f"conv2d kernel {k}x{k} does not fit input {_fmt(shape)} with padding 'valid'",
                field=where,
            )
        f = layer.filters
        params = k * k * c * f + f
        return LayerInfo(layer, shape, (ho, wo, f), params, 2 * k * k * c * f * ho * wo)
    if t == "maxpool2d":
        if len(shape) != 3:
            raise ScenarioError(
                f"maxpool2d expects an image input [H, W, C], got {_fmt(shape)}", field=where
            )
        h, w, c = shape
        p = layer.pool_size
        if p > h or p > w:
            raise ScenarioError(f"pool {p}x{p} does not fit input {_fmt(shape)}", field=where)
        ho, wo = h // p, w // p
        return LayerInfo(layer, shape, (ho, wo, c), 0, ho * wo * c * p * p)
    if t == "flatten":
        return LayerInfo(layer, shape, (math.prod(shape),), 0, 0)
    if t == "lstm":
        if len(shape) != 2:
            raise ScenarioError(
                f"lstm expects a sequence input [T, F], got {_fmt(shape)}", field=where
            )
        steps, feats = shape
        u = layer.units
        params = 4 * u * (feats + u) + 4 * u
        out = (steps, u) if layer.return_sequences else (u,)
        return LayerInfo(layer, shape, out, params, steps * 2 * 4 * u * (feats + u))
    raise ScenarioError(f"unknown layer type {t!r}", field=where)  # pragma: no cover


def infer_stack(
    layers: tuple[LayerSpec, ...], input_shape: tuple[int, ...], field_prefix: str = "[model].layers"
) -> list[LayerInfo]:
    """Infer every layer in order; the first misfit raises ScenarioError."""
    infos = []
    shape = tuple(input_shape)
    for i, layer in enumerate(layers):
        info = infer_layer(layer, shape, f"{field_prefix}[{i}] ({layer.type})")
        infos.append(info)
        shape = info.output_shape
    return infos


def total_params(infos: list[LayerInfo]) -> int:
    """Trainable parameters of the whole stack."""
    return sum(i.params for i in infos)


def flops_per_step(infos: list[LayerInfo], batch_size: int, train: bool = True) -> int:
    """Estimated FLOPs of one step: forward, plus ~2x forward for the backward pass when training."""
    forward = sum(i.flops for i in infos) * batch_size
    return forward * 3 if train else forward
