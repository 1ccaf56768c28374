"""Field kinds: what a scenario field may hold, and the words that say so when it does not.

A kind checks one value read from TOML and returns it (converted where needed, e.g. an integer
learning rate becomes a float), or raises FieldValueError with a message of the form
"expected <expectation>, got <value>". The loader adds the file and field names; the layer
catalogue declares its fields with these kinds, so the loader validates layers from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: The largest value of an integer field unless the field says otherwise (units, filters,
#: kernel sizes, classes, input dimensions, ...): far beyond what a comparison on one machine
#: can run, small enough that every size computed from such fields stays a finite float.
MAX_COUNT = 2**20
#: The largest value of a number field unless the field says otherwise.
MAX_NUMBER = 1e6
#: The most characters of a refused value quoted in a message (a value is data, and may be
#: a 4,000-digit integer or a megabyte of text).
SHOWN_CHARS = 40


def shown(value: Any) -> str:
    """`value` as a message quotes it: its repr, cut to SHOWN_CHARS characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**SHOWN_CHARS:
        return f"an integer of {len(str(abs(value)))} digits"  # repr of a huge int is slow
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


class FieldValueError(ValueError):
    """A value of the wrong type or out of range; the message says what was expected."""


class FieldKind:
    """What one field may hold. Subclasses set `expectation` and implement `parse`."""

    #: Words for the accepted values, as in "expected a positive integer".
    expectation = "a value"
    #: False for a value the file cannot set (see Const).
    settable = True

    def parse(self, value: Any) -> Any:
        """The value, checked (and converted where needed); FieldValueError if it does not fit."""
        raise NotImplementedError

    def refuse(self, value: Any) -> FieldValueError:
        """The error for a value that does not fit."""
        return FieldValueError(f"expected {self.expectation}, got {shown(value)}")


def _too_large(maximum: float | int, value: Any) -> FieldValueError:
    return FieldValueError(f"expected at most {maximum:,} (the documented maximum), "
                           f"got {shown(value)}")


@dataclass(frozen=True)
class Int(FieldKind):
    """A whole number from `minimum` (None: any) to `maximum`; `true` is not a number here."""

    minimum: int | None = 1
    maximum: int = MAX_COUNT

    @property
    def expectation(self) -> str:  # type: ignore[override]
        if self.minimum is None:
            return "an integer"
        return "a positive integer" if self.minimum == 1 else f"an integer >= {self.minimum}"

    def parse(self, value: Any) -> int:
        # bool is an int in Python, but `units = true` is a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.refuse(value)
        if self.minimum is not None and value < self.minimum:
            raise self.refuse(value)
        if value > self.maximum:
            raise _too_large(self.maximum, value)
        return value


@dataclass(frozen=True)
class Float(FieldKind):
    """A finite number (an integer is accepted and converted): positive, or >= 0, below
    `below` (exclusive) and at most `maximum`."""

    positive: bool = True
    below: float | None = None
    maximum: float = MAX_NUMBER

    @property
    def expectation(self) -> str:  # type: ignore[override]
        text = "a positive number" if self.positive else "a number >= 0"
        return text + (f" below {self.below}" if self.below is not None else "")

    def parse(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(value)
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise FieldValueError(f"expected a finite number, got {shown(value)}") from None
        fits = number > 0 if self.positive else number >= 0  # also refuses NaN
        if not fits or (self.below is not None and not number < self.below):
            raise self.refuse(number)
        if not math.isfinite(number):  # TOML writes inf
            raise FieldValueError(f"expected a finite number, got {number!r}")
        if number > self.maximum:
            raise _too_large(self.maximum, number)
        return number


@dataclass(frozen=True)
class Choice(FieldKind):
    """One of a fixed set of names (an enumeration)."""

    options: tuple[str, ...]

    @property
    def expectation(self) -> str:  # type: ignore[override]
        return "one of " + " | ".join(self.options)

    def parse(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise self.refuse(value)
        return value


@dataclass(frozen=True)
class Shape(FieldKind):
    """A list of 1 to `max_rank` positive integers, each at most `maximum`: an input shape."""

    max_rank: int = 8
    maximum: int = MAX_COUNT

    @property
    def expectation(self) -> str:  # type: ignore[override]
        return f"a list of 1 to {self.max_rank} positive integers"

    def parse(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not 1 <= len(value) <= self.max_rank:
            raise self.refuse(value)
        dims = Int(maximum=self.maximum)
        try:
            return tuple(dims.parse(x) for x in value)
        except FieldValueError as err:  # say which entry, and why
            raise FieldValueError(f"{err} in {shown(value)}") from None


@dataclass(frozen=True)
class Padding(FieldKind):
    """A convolution's zero padding: `valid` (none), `same`, or that many zeros on each side
    (at most `maximum`, like every count)."""

    expectation = "one of valid | same, or an integer >= 0"
    maximum: int = MAX_COUNT

    def parse(self, value: Any) -> str | int:
        if isinstance(value, str) and value in ("valid", "same"):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            if value > self.maximum:
                raise _too_large(self.maximum, value)
            return value
        raise self.refuse(value)


class OfType(FieldKind):
    """A value of one TOML type, taken as it is; subclasses set `python_type`."""

    python_type: type = object

    def parse(self, value: Any) -> Any:
        if not isinstance(value, self.python_type):
            raise self.refuse(value)
        return value


@dataclass(frozen=True)
class Bool(OfType):
    """true or false."""

    expectation = "true or false"
    python_type = bool


@dataclass(frozen=True)
class Text(OfType):
    """A string; `expectation` may say which."""

    expectation: str = "a string"
    python_type = str


@dataclass(frozen=True)
class Table(OfType):
    """A TOML table (a section such as [data]); `expectation` names it."""

    expectation: str = "a table"
    python_type = dict


@dataclass(frozen=True)
class LayerList(OfType):
    """A list of layer tables, such as the inner layers of a block.

    This kind checks only that it holds a list; the loader then reads each item as a layer
    (recursively, so blocks nest, and naming the item's place on error), and the stack walks
    infer, count and initialise the inner layers like top-level ones.
    """

    expectation = "a list of layer tables"
    python_type = list
    #: The most layers one list may hold (a block's inner list included).
    max_items = 1000

    def parse(self, value: Any) -> Any:
        value = super().parse(value)
        if len(value) > self.max_items:
            raise FieldValueError(f"expected at most {self.max_items:,} layers, "
                                  f"got {len(value):,}")
        return value


@dataclass(frozen=True)
class Const(FieldKind):
    """A value the file cannot set, but the spec and the results export carry.

    It keeps the exported layer dictionaries of the first layer types exactly as they were
    (every layer carried `activation` and `return_sequences`), so saved runs still match.
    """

    value: Any
    settable = False

    @property
    def expectation(self) -> str:  # type: ignore[override]
        return f"nothing (always {self.value!r})"

    def parse(self, value: Any) -> Any:
        raise FieldValueError(f"cannot be set; it is always {self.value!r}")


class _Required:
    """The type of REQUIRED."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: Marks a field without a default: the file must give it.
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Field:
    """One field of a layer type: its name, kind, default (or REQUIRED) and what it means."""

    name: str
    kind: FieldKind
    default: Any = REQUIRED
    doc: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.kind, Const):  # a constant is its own default
            object.__setattr__(self, "default", self.kind.value)

    @property
    def required(self) -> bool:
        """Whether a file must give this field."""
        return self.default is REQUIRED
