"""Shape inference, parameter counts and FLOP estimates for a layer stack (channels last).

The walk is generic: each layer's catalogue entry says what it does; a block's inner layers
(a LayerList field) are inferred from the block's input, and their parameters and FLOPs are
added to the block's own.
"""

from __future__ import annotations

from .layers import LayerInfo, LayerMisfit, LayerSpec, TokenIds, fmt_shape, layer_type
from .spec import ScenarioError

__all__ = ["LayerInfo", "flops_per_step", "infer_layer", "infer_stack", "total_params"]


def infer_layer(layer: LayerSpec, shape: tuple[int, ...], path: str) -> LayerInfo:
    """Infer one layer at `path` ([model].layers[2]); a misfit raises ScenarioError naming it."""
    where = f"{path} ({layer.type})"
    try:
        entry = layer_type(layer.type)
        for field in entry.fields:
            # A spec built in code may lack a field the loader would have refused.
            if field.required and not layer.has(field.name):
                raise LayerMisfit(f"missing required field ({field.kind.expectation})",
                                  field=field.name)
        if isinstance(shape, TokenIds) and not entry.takes_token_ids:
            raise LayerMisfit(f"{layer.type} cannot take token ids {fmt_shape(shape)}; "
                              "start the model with an embedding layer")
        block = entry.inner_field
        inner = tuple(infer_stack(getattr(layer, block.name), shape, f"{path}.{block.name}")
                      if block else ())
        out = entry.output_shape(layer, shape, inner)
        params = entry.params(layer, shape, out) + sum(i.params for i in inner)
        flops = entry.flops(layer, shape, out) + sum(i.flops for i in inner)
    except LayerMisfit as err:
        culprit = f"{path}.{err.field}" if err.field else where
        raise ScenarioError(err.message, field=culprit) from None
    return LayerInfo(layer, shape, out, params, flops, inner)


def infer_stack(layers: tuple[LayerSpec, ...], input_shape: tuple[int, ...],
                field_prefix: str = "[model].layers") -> list[LayerInfo]:
    """Infer every layer in order; the first misfit raises ScenarioError."""
    infos = []
    # A TokenIds shape must stay one: it tells an embedding its vocabulary.
    shape = input_shape if isinstance(input_shape, tuple) else tuple(input_shape)
    for i, layer in enumerate(layers):
        info = infer_layer(layer, shape, f"{field_prefix}[{i}]")
        infos.append(info)
        shape = info.output_shape
    return infos


def total_params(infos: list[LayerInfo]) -> int:
    """Trainable parameters of the whole stack."""
    return sum(i.params for i in infos)


def flops_per_step(infos: list[LayerInfo], batch_size: int, train: bool = True) -> int:
    """Estimated FLOPs of one step: forward, plus ~2x forward for the backward pass in training."""
    forward = sum(i.flops for i in infos) * batch_size
    return forward * 3 if train else forward
