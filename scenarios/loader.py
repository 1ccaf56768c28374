"""Load and validate scenario TOML files; find built-in and user scenarios."""

from __future__ import annotations

import os
import stat
import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .datasets import DIGITS_CLASSES, DIGITS_SAMPLES, DIGITS_SHAPES
from .fields import (
    REQUIRED,
    Choice,
    FieldKind,
    FieldValueError,
    Float,
    Int,
    LayerList,
    Shape,
    Table,
    Text,
    shown,
)
from .input import parse_input
from .layers import LAYER_TYPES, LayerMisfit, LayerSpec, layer_type
from .shapes import infer_stack
from .spec import (
    DATA_KINDS,
    DEFAULT_HOLDOUT,
    LOSSES,
    MAX_BATCH_SIZE,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_STEPS,
    OPTIMIZERS,
    DataSpec,
    Scenario,
    ScenarioError,
    TrainSpec,
)

#: A scenario file is a few hundred bytes; a larger file is not one (or not sane).
MAX_FILE_BYTES = 2**20
#: Tables and lists nest at most this deep (a block of layers inside a block adds two).
MAX_DEPTH = 32
#: The start of the message for a failure the loader has no specific check for.
UNFORESEEN = "cannot be loaded: unexpected problem"

_TOP_KEYS = {"name", "description", "data", "model", "train", "input"}
_DATA_KEYS = {"kind", "samples", "input_shape", "classes", "outputs", "seed", "noise",
              "holdout"}
_TOKEN_KEYS = {"kind", "vocab", "seq_len", "samples", "seed"}
_TRAIN_KEYS = {
    "optimizer", "learning_rate", "batch_size", "steps", "loss",
    "momentum", "beta1", "beta2", "epsilon", "eval_every",
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
        key = key if len(key) <= 40 else shown(key)  # a key is data too: keep messages short
        return f"{self.prefix}.{key}" if self.prefix else key

    def check_keys(self, allowed: set[str], what: str) -> None:
        for key in self.table:
            if key not in allowed:
                self.fail(
                    self.name(key),
                    f"unknown field in {what}; expected one of: {', '.join(sorted(allowed))}",
                )

    def read(self, key: str, kind: FieldKind, default: Any = REQUIRED) -> Any:
        """The value of `key` checked by `kind`, or `default` when absent (REQUIRED: fail)."""
        if key not in self.table:
            if default is REQUIRED:
                self.fail(self.name(key), f"missing required field ({kind.expectation})")
            return default
        try:
            return kind.parse(self.table[key])
        except FieldValueError as err:
            self.fail(self.name(key), str(err))


def parse_scenario(doc: dict[str, Any], source: str, builtin: bool = False) -> Scenario:
    """Validate a parsed TOML document and build a Scenario; raise ScenarioError on bad input."""
    top = _Fields(doc, source, "")
    top.check_keys(_TOP_KEYS, "the scenario")
    name = top.read("name", Text())
    if not name.strip():
        top.fail("name", "expected a non-empty name")
    description = top.read("description", Text(), "")

    d = _Fields(top.read("data", Table("a [data] table")), source, "[data]")
    data = _token_data(d) if d.table.get("kind") == "tokens" else _synthetic_data(d)

    m = _Fields(top.read("model", Table("a [model] table")), source, "[model]")
    m.check_keys({"layers"}, "[model]")
    raw_layers = m.read("layers", LayerList())
    if not raw_layers:
        m.fail("[model].layers", "expected at least one layer")
    layers = _parse_layers(raw_layers, source, "[model].layers")

    t = _Fields(top.read("train", Table("a [train] table")), source, "[train]")
    t.check_keys(_TRAIN_KEYS, "[train]")
    optimizer = t.read("optimizer", Choice(OPTIMIZERS))
    lr = t.read("learning_rate", Float())
    batch_size = t.read("batch_size", Int(maximum=MAX_BATCH_SIZE))
    steps = t.read("steps", Int(maximum=MAX_STEPS))
    loss = t.read("loss", Choice(LOSSES))
    fraction = Float(below=1.0)
    train = TrainSpec(
        optimizer, lr, batch_size, steps, loss,
        momentum=t.read("momentum", fraction, 0.9),
        beta1=t.read("beta1", fraction, 0.9),
        beta2=t.read("beta2", fraction, 0.999),
        epsilon=t.read("epsilon", Float(maximum=1.0), 1e-7),
        eval_every=t.read("eval_every", Int(maximum=MAX_STEPS), None),
    )
    if batch_size > data.samples:
        t.fail("[train].batch_size",
               f"batch size {batch_size} exceeds [data].samples {data.samples}")
    if batch_size > data.train_samples:
        t.fail("[train].batch_size", f"batch size {batch_size} exceeds the {data.train_samples} "
                                     f"training samples ([data].samples {data.samples} less the "
                                     f"{data.holdout_samples} held out)")
    if train.eval_every is not None and not data.holdout_samples:
        t.fail("[train].eval_every", "evaluation needs held-out samples; set [data].holdout "
                                     "(the fraction kept out of training, e.g. 0.2)")
    if loss == "cross_entropy" and data.kind == "regression":
        t.fail("[train].loss", "regression data needs loss = \"mse\"")
    if loss == "mse" and data.kind != "regression":
        t.fail("[train].loss", f"{data.kind} data is classified; use loss = \"cross_entropy\"")

    try:
        infos = infer_stack(layers, data.input_shape)
    except ScenarioError as err:
        raise ScenarioError(err.detail, source=source, field=err.field) from None
    out = infos[-1].output_shape
    if out != data.target_shape:
        raise ScenarioError(
            f"the last layer outputs {out}, but {_target_words(data)}; "
            f"end with a dense layer of {data.target_width} units",
            source=source, field=f"[model].layers[{len(layers) - 1}]",
        )
    input_spec = None
    if "input" in doc:
        i = _Fields(top.read("input", Table("an [input] table")), source, "[input]")
        input_spec = parse_input(i.table, data, i.fail)
    return Scenario(name.strip(), description, data, layers, train, source=source,
                    builtin=builtin, input=input_spec)


def _check_digits(d: _Fields, samples: int, input_shape: tuple[int, ...]) -> None:
    """The fields of the shipped digits data set: it has its own size, classes and pixels."""
    if samples > DIGITS_SAMPLES:
        d.fail("[data].samples", f"the digits data set has {DIGITS_SAMPLES} samples, got "
                                 f"{samples}")
    if input_shape not in DIGITS_SHAPES:
        d.fail("[data].input_shape", f"digits are [8, 8, 1] (an image) or [64] (flat), got "
                                     f"{list(input_shape)!r}")
    if "noise" in d.table:
        d.fail("[data].noise", "digits are real images; they have no noise setting")
    classes = d.read("classes", Int(), DIGITS_CLASSES)
    if classes != DIGITS_CLASSES:
        d.fail("[data].classes", f"the digits data set has {DIGITS_CLASSES} classes, got "
                                 f"{classes}")


def _target_words(data: DataSpec) -> str:
    """What the data needs the model to output, for a message."""
    if data.kind == "tokens":
        return (f"next-token prediction needs {data.target_shape}: a logit for each of the "
                f"{data.vocab} tokens at each of the {data.input_shape[0]} positions")
    what = "classes" if data.classes else "outputs"
    return f"the data has {data.target_width} {what}"


def _synthetic_data(d: _Fields) -> DataSpec:
    """The [data] table of a data set with an input shape (synthetic, or the shipped digits;
    not tokens)."""
    d.check_keys(_DATA_KEYS, "[data]")
    kind = d.read("kind", Choice(DATA_KINDS))
    digits = kind == "digits"
    samples = d.read("samples", Int(maximum=MAX_SAMPLES), DIGITS_SAMPLES if digits else REQUIRED)
    input_shape = d.read("input_shape", Shape())
    if digits:
        _check_digits(d, samples, input_shape)
    need_rank = {"images": 3, "sequences": 2}.get(kind)
    if need_rank and len(input_shape) != need_rank:
        layout = "[H, W, C]" if kind == "images" else "[T, F]"
        d.fail("[data].input_shape", f"{kind} data needs {layout}, got {list(input_shape)!r}")
    if kind == "regression":
        if "classes" in d.table:
            d.fail("[data].classes", "regression data has no classes; use 'outputs'")
        classes, outputs = None, d.read("outputs", Int(), 1)
    else:
        if "outputs" in d.table:
            d.fail("[data].outputs", f"{kind} data is classified; use 'classes'")
        classes, outputs = d.read("classes", Int(), DIGITS_CLASSES if digits else REQUIRED), None
        if classes < 2:
            d.fail("[data].classes", f"expected at least 2 classes, got {classes}")
    seed = d.read("seed", Int(minimum=0, maximum=MAX_SEED), 0)
    noise = d.read("noise", Float(positive=False, maximum=1000.0), 0.5)
    holdout = d.read("holdout", Float(positive=False, below=1.0), DEFAULT_HOLDOUT.get(kind, 0.0))
    return DataSpec(kind, samples, input_shape, classes, outputs, seed, noise, holdout)


def _token_data(d: _Fields) -> DataSpec:
    """The [data] table of token data: a vocabulary, sequence length, samples and seed."""
    d.check_keys(_TOKEN_KEYS, "[data] of kind \"tokens\"")
    vocab = d.read("vocab", Int(minimum=2))
    seq_len = d.read("seq_len", Int())
    samples = d.read("samples", Int(maximum=MAX_SAMPLES))
    seed = d.read("seed", Int(minimum=0, maximum=MAX_SEED), 0)
    return DataSpec("tokens", samples, (seq_len,), seed=seed, vocab=vocab)


def _parse_layers(raw_layers: list[Any], source: str, path: str) -> tuple[LayerSpec, ...]:
    """Every layer table of a list at `path` ([model].layers, or a block's inner list)."""
    return tuple(_parse_layer(raw, source, f"{path}[{i}]") for i, raw in enumerate(raw_layers))


def _parse_layer(raw: Any, source: str, path: str) -> LayerSpec:
    """One layer table, validated from its catalogue entry's fields."""
    f = _Fields(raw, source, path)
    name = f.read("type", Text("a layer type: " + " | ".join(LAYER_TYPES)))
    try:
        entry = layer_type(name)
    except LayerMisfit as err:
        f.fail(f"{path}.type", err.message)
    f.check_keys({"type", *(fd.name for fd in entry.fields if fd.kind.settable)},
                 f"a {name} layer")
    values: dict[str, Any] = {}
    for field in entry.fields:
        value = f.read(field.name, field.kind, field.default)
        if isinstance(field.kind, LayerList):  # a block: its inner layers, recursively
            value = _parse_layers(value, source, f"{path}.{field.name}")
        values[field.name] = value
    layer = LayerSpec(name, tuple(values.items()))
    try:
        entry.check(layer)
    except LayerMisfit as err:
        f.fail(f"{path}.{err.field}" if err.field else path, err.message)
    return layer


def load_scenario(path: str | Path, builtin: bool = False) -> Scenario:
    """Read and validate one scenario file; whatever is wrong with it raises ScenarioError
    naming the file (never another exception: a file is data, and may be anything)."""
    path = Path(path)
    source = str(path)
    try:
        doc = parse_toml(read_capped(path), source)
        return parse_scenario(doc, source, builtin=builtin)
    except ScenarioError:
        raise
    except RecursionError:
        raise ScenarioError(f"nested too deeply (at most {MAX_DEPTH} levels)",
                            source=source) from None
    except MemoryError:
        raise ScenarioError("too large to load (out of memory)", source=source) from None
    except Exception as err:  # noqa: BLE001 - a case nobody foresaw is refused, not a crash
        raise ScenarioError(f"{UNFORESEEN} ({type(err).__name__}: {shown(str(err))})",
                            source=source) from None


def read_capped(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of `path` when it is a regular file of at most `limit` bytes.

    Never blocks nor floods: what is not a regular file (a FIFO, /dev/zero, a directory, a
    socket) is refused before it is opened, the file is opened non-blocking and checked again
    (it may have been swapped), and at most `limit` + 1 bytes are read (a size can lie).
    Raises ScenarioError naming the file (a symlink loop is an OSError: cannot read).
    """
    source = str(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ScenarioError(f"{file_kind(st.st_mode)}, not a scenario file", source=source)
        if st.st_size > limit:
            raise ScenarioError(f"too large for a scenario file ({st.st_size:,} bytes; at "
                                f"most {limit:,})", source=source)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ScenarioError("no such file", source=source) from None
    except OSError as err:
        raise ScenarioError(f"cannot read file ({err.strerror or err})", source=source) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ScenarioError("not a regular file, not a scenario file", source=source)
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise ScenarioError(f"larger than {limit:,} bytes, not a scenario file",
                                source=source)
        return data
    except OSError as err:  # EAGAIN from a file that would block, EIO, ...
        raise ScenarioError(f"cannot read file ({err.strerror or err})", source=source) from None
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words ('a FIFO'), for a refusal message."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def parse_toml(data: bytes, source: str) -> dict[str, Any]:
    """The TOML document in `data` (UTF-8), nested at most MAX_DEPTH deep."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(f"not UTF-8 text (byte {err.start})", source=source) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"TOML syntax error: {err}", source=source) from None
    except RecursionError:  # tomllib recurses per level of [[[...]]]
        raise ScenarioError(f"nested too deeply (at most {MAX_DEPTH} levels)",
                            source=source) from None
    except ValueError as err:  # an integer of more than 4,300 digits
        raise ScenarioError(f"TOML value not readable: {shown(str(err))}",
                            source=source) from None
    if _depth(doc) > MAX_DEPTH:
        raise ScenarioError(f"nested too deeply (at most {MAX_DEPTH} levels)", source=source)
    return doc


def _depth(value: Any) -> int:
    """How deep tables and lists nest in `value` (walked without recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            todo.extend((v, level + 1) for v in (item.values() if isinstance(item, dict)
                                                 else item))
    return deepest


def builtin_paths() -> list[Path]:
    """The built-in scenario files shipped with the package, sorted by name."""
    folder = resources.files("scenarios") / "builtin"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml"))


BUILTIN_ORDER = ("mlp", "cnn", "lstm", "regression", "digits", "transformer", "resnet", "gru",
                 "cnn-augmented")


def load_builtins() -> list[Scenario]:
    """All built-in scenarios, in a sensible order (simple to complex)."""
    found = [load_scenario(p, builtin=True) for p in builtin_paths()]
    rank = {n: i for i, n in enumerate(BUILTIN_ORDER)}
    return sorted(found, key=lambda s: (rank.get(s.name, len(rank)), s.name))


def discover(
    extra_files: list[str | Path] = (), user_dir: Path | None = None
) -> tuple[list[Scenario], list[ScenarioError]]:
    """Built-ins, then every *.toml in user_dir, then extra files.

    A broken file in the user folder, whatever is wrong with it, is reported, not fatal; later
    names replace earlier ones. Files given explicitly are loaded strictly (their errors raise
    ScenarioError).
    """
    by_name: dict[str, Scenario] = {s.name: s for s in load_builtins()}
    problems: list[ScenarioError] = []
    for path in _folder_files(user_dir, problems):
        try:
            s = load_scenario(path)
        except ScenarioError as err:
            problems.append(err)
            continue
        except Exception as err:  # noqa: BLE001 - the README's promise: skipped, with a warning
            problems.append(ScenarioError(f"{UNFORESEEN} ({type(err).__name__})",
                                          source=str(path)))
            continue
        by_name[s.name] = s
    for path in extra_files:
        s = load_scenario(path)
        by_name[s.name] = s
    return list(by_name.values()), problems


def _folder_files(folder: Path | None, problems: list[ScenarioError]) -> list[Path]:
    """The *.toml files of the user's folder, sorted; a folder that cannot be listed is a
    problem, not an error."""
    if folder is None:
        return []
    try:
        if not folder.is_dir():
            return []
        return sorted(folder.glob("*.toml"))
    except OSError as err:
        problems.append(ScenarioError(f"cannot list the folder ({err.strerror or err})",
                                      source=str(folder)))
        return []


def find(name: str, scenarios: list[Scenario]) -> Scenario:
    """The scenario called `name`, or a ScenarioError listing the known names."""
    for s in scenarios:
        if s.name == name:
            return s
    known = ", ".join(s.name for s in scenarios)
    hint = ""
    if name.endswith(".toml") or os.sep in name:  # a path where a name was expected
        hint = "; to load a file, give it with --scenario-file PATH"
    raise ScenarioError(f"unknown scenario {shown(name)}; known: {known}{hint}",
                        field="--scenario")
