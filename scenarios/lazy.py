"""What loads on first use: `np`, and the names a package exports (PEP 562).

The picker needs the scenarios' shapes, parameters and FLOPs, never an array, and the command
line needs a few names from `engines`, never the runner: importing numpy, the runner and the
results with them cost about 0.1 s of a 0.37 s start-up (`python -X importtime`, reference
machine). So the modules that make arrays (layer weights, data, tokens) take numpy through the
`np` proxy, and `scenarios` and `engines` export their names through `lazy_exports`. Any
attribute of `np` (`np.float32`, `np.random.default_rng`, ...) imports numpy and is numpy's
own; array code pays one attribute lookup per call, nothing per element.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping


class _LazyNumpy:
    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        module: ModuleType = importlib.import_module("numpy")
        return getattr(module, name)

    def __repr__(self) -> str:
        return "<numpy, loaded on first use>"


if TYPE_CHECKING:
    import numpy as np
else:
    np = _LazyNumpy()


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """A package's module-level `__getattr__` and `__dir__`: `exports` maps each exported name
    to the (relative) module that defines it, imported when the name is first asked for and
    then kept in the package's `namespace`."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__


__all__ = ["lazy_exports", "np"]
