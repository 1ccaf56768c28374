"""Load and validate scenario TOML files; find built-in and user scenarios."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .shapes import infer_stack
from .spec import (
    ACTIVATIONS,
    DATA_KINDS,
    LAYER_TYPES,
    LOSSES,
    OPTIMIZERS,
    DataSpec,
    LayerSpec,
    Scenario,
    ScenarioError,
    TrainSpec,
)

_TOP_KEYS = {"name", "description", "data", "model", "train"}
_DATA_KEYS = {"kind", "samples", "input_shape", "classes", "outputs", "seed", "noise"}
_TRAIN_KEYS = {
    "optimizer", "learning_rate", "batch_size", "steps", "loss",
    "momentum", "beta1", "beta2", "epsilon",
}
# Which keys each layer type takes (besides "type"), and their defaults.
_LAYER_KEYS: dict[str, dict[str, Any]] = {
    "dense": {"units": None, "activation": "linear"},
    "conv2d": {"filters": None, "kernel_size": None, "stride": 1, "padding": "valid",
               "activation": "linear"},
    "maxpool2d": {"pool_size": 2},
    "flatten": {},
    "lstm": {"units": None, "return_sequences": False},
}


class _Fields:
    """Reads typed fields from one TOML table, naming the file and field on every error."""

    def __init__(self, table: Any, source: str, prefix: str):
        self.source, self.prefix = source, prefix
        if not isinstance(table, dict):
            self.fail(prefix, f"expected a table, got {type(table).__name__}")
        self.table = table

    def fail(self, field: str, message: str) -> None:
        raise ScenarioError(message, source=self.source, field=field)

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def check_keys(self, allowed: set[str], what: str) -> None:
        for key in self.table:
            if key not in allowed:
                self.fail(
                    self.name(key),
                    f"unknown field in {what}; expected one of: {', '.join(sorted(allowed))}",
                )

    def get(self, key: str, kind: type | tuple, default: Any = ..., what: str = "") -> Any:
        if key not in self.table:
            if default is ...:
                self.fail(self.name(key), f"missing required field ({what or _type_name(kind)})")
            return default
        value = self.table[key]
        ok_types = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python, but `units = true` is a mistake.
        if isinstance(value, bool) and bool not in ok_types:
            self.fail(self.name(key), f"expected {what or _type_name(kind)}, got {value!r}")
        if not isinstance(value, ok_types):
            self.fail(self.name(key), f"expected {what or _type_name(kind)}, got {value!r}")
        return value

    def positive_int(self, key: str, default: Any = ...) -> int:
        value = self.get(key, int, default, "a positive integer")
        if value is not None and value < 1:
            self.fail(self.name(key), f"expected a positive integer, got {value}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default, "one of " + " | ".join(options))
        if value not in options:
            self.fail(self.name(key), f"expected one of {' | '.join(options)}, got {value!r}")
        return value

    def positive_float(self, key: str, default: Any = ..., upper: float | None = None) -> float:
        value = float(self.get(key, (int, float), default, "a positive number"))
        if not value > 0 or value != value or (upper is not None and value >= upper):
            bound = f" below {upper}" if upper is not None else ""
            self.fail(self.name(key), f"expected a positive number{bound}, got {value}")
        return value


def _type_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a table", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_scenario(doc: dict[str, Any], source: str, builtin: bool = False) -> Scenario:
    """Validate a parsed TOML document and build a Scenario; raise ScenarioError on bad input."""
    top = _Fields(doc, source, "")
    top.check_keys(_TOP_KEYS, "the scenario")
    name = top.get("name", str)
    if not name.strip():
        top.fail("name", "expected a non-empty name")
    description = top.get("description", str, "")

    d = _Fields(top.get("data", dict, what="a [data] table"), source, "[data]")
    d.check_keys(_DATA_KEYS, "[data]")
    kind = d.choice("kind", DATA_KINDS)
    samples = d.positive_int("samples")
    raw_shape = d.get("input_shape", list, what="a list of positive integers")
    if not raw_shape or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                                for x in raw_shape):
        d.fail("[data].input_shape", f"expected a list of positive integers, got {raw_shape!r}")
    need_rank = {"images": 3, "sequences": 2}.get(kind)
    if need_rank and len(raw_shape) != need_rank:
        layout = "[H, W, C]" if kind == "images" else "[T, F]"
        d.fail("[data].input_shape", f"{kind} data needs {layout}, got {raw_shape!r}")
    if kind == "regression":
        if "classes" in d.table:
            d.fail("[data].classes", "regression data has no classes; use 'outputs'")
        classes, outputs = None, d.positive_int("outputs", 1)
    else:
        if "outputs" in d.table:
            d.fail("[data].outputs", f"{kind} data is classified; use 'classes'")
        classes, outputs = d.positive_int("classes"), None
        if classes < 2:
            d.fail("[data].classes", f"expected at least 2 classes, got {classes}")
    seed = d.get("seed", int, 0)
    noise = float(d.get("noise", (int, float), 0.5, "a number >= 0"))
    if noise < 0:
        d.fail("[data].noise", f"expected a number >= 0, got {noise}")
    data = DataSpec(kind, samples, tuple(raw_shape), classes, outputs, seed, noise)

    m = _Fields(top.get("model", dict, what="a [model] table"), source, "[model]")
    m.check_keys({"layers"}, "[model]")
    raw_layers = m.get("layers", list, what="a list of layer tables")
    if not raw_layers:
        m.fail("[model].layers", "expected at least one layer")
    layers = tuple(_parse_layer(raw, source, i) for i, raw in enumerate(raw_layers))

    t = _Fields(top.get("train", dict, what="a [train] table"), source, "[train]")
    t.check_keys(_TRAIN_KEYS, "[train]")
    optimizer = t.choice("optimizer", OPTIMIZERS)
    lr = t.positive_float("learning_rate")
    batch_size = t.positive_int("batch_size")
    steps = t.positive_int("steps")
    loss = t.choice("loss", LOSSES)
    train = TrainSpec(
        optimizer, lr, batch_size, steps, loss,
        momentum=t.positive_float("momentum", 0.9, upper=1.0),
        beta1=t.positive_float("beta1", 0.9, upper=1.0),
        beta2=t.positive_float("beta2", 0.999, upper=1.0),
        epsilon=t.positive_float("epsilon", 1e-7),
    )
    if batch_size > samples:
        t.fail("[train].batch_size", f"batch size {batch_size} exceeds [data].samples {samples}")
    if loss == "cross_entropy" and kind == "regression":
        t.fail("[train].loss", "regression data needs loss = \"mse\"")
    if loss == "mse" and kind != "regression":
        t.fail("[train].loss", f"{kind} data is classified; use loss = \"cross_entropy\"")

    try:
        infos = infer_stack(layers, data.input_shape)
    except ScenarioError as err:
        raise ScenarioError(err.detail, source=source, field=err.field) from None
    out = infos[-1].output_shape
    if out != (data.target_width,):
        what = "classes" if classes else "outputs"
        raise ScenarioError(
            f"the last layer outputs {out}, but the data has {data.target_width} {what}; "
            f"end with a dense layer of {data.target_width} units",
            source=source, field=f"[model].layers[{len(layers) - 1}]",
        )
    return Scenario(name.strip(), description, data, layers, train, source=source, builtin=builtin)


def _parse_layer(raw: Any, source: str, index: int) -> LayerSpec:
    prefix = f"[model].layers[{index}]"
    f = _Fields(raw, source, prefix)
    ltype = f.get("type", str, what="a layer type: " + " | ".join(LAYER_TYPES))
    if ltype not in _LAYER_KEYS:
        f.fail(f"{prefix}.type", f"unknown layer type {ltype!r}; expected one of "
               + " | ".join(LAYER_TYPES))
    keys = _LAYER_KEYS[ltype]
    f.check_keys({"type", *keys}, f"a {ltype} layer")
    values: dict[str, Any] = {"type": ltype}
    for key, default in keys.items():
        if key in ("units", "filters", "kernel_size", "stride", "pool_size"):
            values[key] = f.positive_int(key, default)
        elif key == "activation":
            values[key] = f.choice(key, ACTIVATIONS, default)
        elif key == "padding":
            values[key] = f.choice(key, ("valid", "same"), default)
        elif key == "return_sequences":
            values[key] = f.get(key, bool, default)
    if ltype == "conv2d" and values["padding"] == "same":
        # TF pads even kernels asymmetrically and torch's 'same' needs stride 1: refuse
        # what the two frameworks cannot compute identically.
        if values["kernel_size"] % 2 == 0:
            f.fail(f"{prefix}.kernel_size", "padding 'same' needs an odd kernel_size "
                   f"(TensorFlow pads even kernels asymmetrically), got {values['kernel_size']}")
        if values["stride"] != 1:
            f.fail(f"{prefix}.stride", f"padding 'same' needs stride 1, got {values['stride']}")
    return LayerSpec(**values)


def load_scenario(path: str | Path, builtin: bool = False) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"cannot read file: {err}", source=source) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"TOML syntax error: {err}", source=source) from None
    return parse_scenario(doc, source, builtin=builtin)


def builtin_paths() -> list[Path]:
    """The built-in scenario files shipped with the package, sorted by name."""
    folder = resources.files("scenarios") / "builtin"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml"))


BUILTIN_ORDER = ("mlp", "cnn", "lstm", "regression")


def load_builtins() -> list[Scenario]:
    """All built-in scenarios, in a sensible order (simple to complex)."""
    found = [load_scenario(p, builtin=True) for p in builtin_paths()]
    rank = {n: i for i, n in enumerate(BUILTIN_ORDER)}
    return sorted(found, key=lambda s: (rank.get(s.name, len(rank)), s.name))


def discover(
    extra_files: list[str | Path] = (), user_dir: Path | None = None
) -> tuple[list[Scenario], list[ScenarioError]]:
    """Built-ins, then every *.toml in user_dir, then extra files.

    A broken file in the user folder is reported, not fatal; later names replace earlier ones.
    Files given explicitly are loaded strictly (their errors raise).
    """
    by_name: dict[str, Scenario] = {s.name: s for s in load_builtins()}
    problems: list[ScenarioError] = []
    if user_dir is not None and user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            try:
                s = load_scenario(path)
            except ScenarioError as err:
                problems.append(err)
                continue
            by_name[s.name] = s
    for path in extra_files:
        s = load_scenario(path)
        by_name[s.name] = s
    return list(by_name.values()), problems


def find(name: str, scenarios: list[Scenario]) -> Scenario:
    """The scenario called `name`, or a ScenarioError listing the known names."""
    for s in scenarios:
        if s.name == name:
            return s
    known = ", ".join(s.name for s in scenarios)
    raise ScenarioError(f"unknown scenario {name!r}; known: {known}", field="--scenario")
