"""The layer catalogue's vocabulary: a layer type, a layer as written, a layer as inferred.

Each layer type is one `LayerType` subclass in its own module of this package, installed in
CATALOGUE by the package's __init__: it declares its fields and knows its output shape,
parameter count, FLOPs, initial weights and a short description. The loader validates layer
tables from the fields, `scenarios.shapes` and `scenarios.weights` walk a stack of layers
through the catalogue, and each engine has one builder per type name (engines/builders/).
Nothing here knows a framework.

A field of kind `LayerList` holds inner layers (a block such as a residual one): the walks
recurse into it, so the inner layers are validated, inferred, counted and initialised like
top-level ones, and a type accounts only for what it adds itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import Field, LayerList
from ..lazy import np

Shape = tuple[int, ...]


class TokenIds(tuple):
    """The shape [T] of a sequence of token ids, carrying the size of their vocabulary.

    Token data gives the model this shape: only a layer type that takes token ids (an
    embedding) accepts it, every other one is refused, so a vector [N] of numbers and a
    sequence of ids never mix. It equals, hashes and prints like the plain shape; built
    without a vocabulary (as dataclasses.asdict copies a tuple, item by item) it is one.
    """

    vocab: int

    def __new__(cls, dims: Any, vocab: int | None = None) -> Any:
        if vocab is None:
            return tuple(dims)
        shape = super().__new__(cls, dims)
        shape.vocab = vocab
        return shape

    def __reduce__(self) -> Any:
        return (TokenIds, (tuple(self), self.vocab))

    def __repr__(self) -> str:
        return f"TokenIds({tuple(self)!r}, vocab={self.vocab})"


def fmt_shape(shape: Shape) -> str:
    """A shape as it reads in messages: (32, 32, 3)."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


class LayerMisfit(ValueError):
    """A layer that cannot work as given; `field` names the culprit (None: the layer itself).

    Catalogue entries raise it without knowing where the layer sits; the loader and the stack
    walk add the file and the layer's place ([model].layers[2]).
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class LayerSpec:
    """One layer as the scenario gives it: its type and every field's value, defaults filled in.

    Field values read as attributes (`layer.units`); a field its type does not have raises
    AttributeError. `values` keeps the catalogue's field order, which is the export's order.
    """

    type: str
    values: tuple[tuple[str, Any], ...] = ()

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not real attributes. Read the instance dict directly:
        # during unpickling `values` does not exist yet and must not recurse into here.
        for key, value in self.__dict__.get("values", ()):
            if key == name:
                return value
        raise AttributeError(f"a {self.__dict__.get('type', '?')} layer has no field {name!r}")

    def has(self, name: str) -> bool:
        """Whether this layer carries a value for field `name`."""
        return any(key == name for key, _ in self.values)

    def to_dict(self) -> dict[str, Any]:
        """The layer as plain JSON-able data: type first, then the fields (inner layers too)."""
        return {"type": self.type, **{key: _plain(value) for key, value in self.values}}

    def describe(self) -> str:
        """A short human description such as 'conv2d 16@3x3 s1 same relu'."""
        entry = CATALOGUE.get(self.type)
        return entry.describe(self) if entry is not None else self.type


def _plain(value: Any) -> Any:
    if isinstance(value, tuple) and all(isinstance(v, LayerSpec) for v in value):
        return [v.to_dict() for v in value]
    return value


@dataclass(frozen=True)
class LayerInfo:
    """What one layer turns its input into, and what it costs (its inner layers included)."""

    layer: LayerSpec
    input_shape: Shape
    output_shape: Shape
    params: int
    flops: int  # forward multiply-adds x 2, per sample
    inner: tuple[LayerInfo, ...] = ()  # a block's inner layers, inferred


class LayerType(ABC):
    """One kind of layer: its fields and what it computes, without any framework.

    Shapes are per sample, channels last (images [H, W, C], sequences [T, F], vectors [N]).
    `output_shape`, `params` and `flops` raise LayerMisfit when the input does not fit.
    For a type with a LayerList field, the inner layers are inferred first (from the block's
    input) and passed in as `inner`; `params`, `flops` and `weights` cover only what the type
    adds itself, the stack walks add the inner layers'.
    """

    #: The name a scenario's `type = "..."` uses, and the key of every builder table.
    name: ClassVar[str]
    #: What the layer does, in one line.
    summary: ClassVar[str]
    #: Its fields, in the order the export writes them.
    fields: ClassVar[tuple[Field, ...]] = ()
    #: Whether it takes token ids (TokenIds); every other type is refused them.
    takes_token_ids: ClassVar[bool] = False

    @property
    def inner_field(self) -> Field | None:
        """The field holding inner layers, if this type is a block."""
        return next((f for f in self.fields if isinstance(f.kind, LayerList)), None)

    def check(self, layer: LayerSpec) -> None:
        """Rules between fields, checked when the file is read (LayerMisfit naming the field)."""

    @abstractmethod
    def output_shape(self, layer: LayerSpec, shape: Shape, inner: tuple[LayerInfo, ...]) -> Shape:
        """The output shape for input `shape`."""

    @abstractmethod
    def params(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        """Trainable parameters the layer adds."""

    @abstractmethod
    def flops(self, layer: LayerSpec, shape: Shape, out: Shape) -> int:
        """Forward FLOPs per sample (a multiply-add counts 2)."""

    def weights(self, layer: LayerSpec, shape: Shape, out: Shape,
                rng: np.random.Generator) -> list[np.ndarray]:
        """Initial arrays in Keras's order and layout (float32), drawn from `rng` in order."""
        return []

    def describe(self, layer: LayerSpec) -> str:
        """A short description for the layer table."""
        return self.name


#: Every layer type by name, in the documented order (see install()).
CATALOGUE: dict[str, LayerType] = {}


def install(*types: type[LayerType]) -> None:
    """Add layer types to the catalogue, in the order given."""
    for cls in types:
        entry = cls()
        if entry.name in CATALOGUE:
            raise ValueError(f"layer type {entry.name!r} is installed twice")
        if sum(isinstance(f.kind, LayerList) for f in cls.fields) > 1:
            raise ValueError(f"layer type {entry.name!r}: at most one field holds inner layers")
        for f in cls.fields:  # a field must read as an attribute of its LayerSpec
            if f.name in ("type", "values") or hasattr(LayerSpec, f.name):
                raise ValueError(f"layer type {entry.name!r}: field name {f.name!r} is taken")
        CATALOGUE[entry.name] = entry


def layer_type(name: str) -> LayerType:
    """The catalogue entry for `name`; LayerMisfit on field 'type' listing the known ones."""
    entry = CATALOGUE.get(name)
    if entry is None:
        raise LayerMisfit(f"unknown layer type {name!r}; expected one of "
                          + " | ".join(CATALOGUE), field="type")
    return entry

