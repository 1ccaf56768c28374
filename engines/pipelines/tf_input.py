"""TensorFlow's input pipeline: tf.data with TensorFlow ops inside the map.

native: Dataset -> map(preprocess, num_parallel_calls = K or AUTOTUNE, deterministic) ->
batch -> prefetch(AUTOTUNE or N), with tf.data's default optimisations and autotuning on.
naive: the map sequential as written, no prefetch, and tf.data's default optimisations and
autotuning switched off (by default tf.data parallelises stateless maps and injects a prefetch:
without this the "naive" pipeline would be tuned anyway).
"""

from __future__ import annotations

import re
from typing import Any

from scenarios import Scenario
from scenarios.input import InputSpec, PreprocessOp, epoch_draws, raw_samples

from ..settings import RunSettings
from .feed import InputFeed, first_line

_SCOPE = re.compile(r"preprocess_(\d+)_([a-z_]+)")


def _random_crop(tf: Any, x: Any, op: PreprocessOp, offset: Any, flip: Any) -> Any:
    p = op.pad
    if p:
        x = tf.pad(x, [[p, p], [p, p], [0, 0]])
    return tf.slice(x, tf.stack([offset[0], offset[1], 0]), [op.size[0], op.size[1], -1])


def _flip_left_right(tf: Any, x: Any, op: PreprocessOp, offset: Any, flip: Any) -> Any:
    return tf.cond(flip, lambda: tf.image.flip_left_right(x), lambda: x)


def _normalize(tf: Any, x: Any, op: PreprocessOp, offset: Any, flip: Any) -> Any:
    return (x - tf.constant(op.mean, tf.float32)) / tf.constant(op.std, tf.float32)


#: Each op of scenarios.input.OPS, in TensorFlow.
TF_OPS = {"random_crop": _random_crop, "flip_left_right": _flip_left_right,
          "normalize": _normalize}


def tf_feed(tf: Any, scenario: Scenario, settings: RunSettings) -> InputFeed:
    """The TensorFlow engine's input feed for this run (native or naive)."""
    spec = scenario.input or InputSpec()
    data, seed, b = scenario.data, settings.seed, settings.batch_size
    samples = raw_samples(data, b, seed)
    per_epoch = samples.batches_per_epoch * b
    order = samples.order[:per_epoch]
    as_float = data.kind != "tokens"

    def epochs() -> Any:  # one element per epoch: sample indices with that epoch's draws
        epoch = 0
        while True:
            d = epoch_draws(spec, data, seed, epoch)
            yield order, d.offsets[order], d.flips[order]
            epoch += 1

    with tf.device("/CPU:0"):
        x_all, y_all = tf.constant(samples.x), tf.constant(samples.y)

    def preprocess(i: Any, offset: Any, flip: Any) -> Any:
        x = tf.gather(x_all, i)
        if as_float:
            x = tf.cast(x, tf.float32)
            if samples.scale != 1.0:
                x = x / tf.constant(samples.scale, tf.float32)
        for k, op in enumerate(spec.preprocess):
            with tf.name_scope(f"preprocess_{k}_{op.op}"):
                x = TF_OPS[op.op](tf, x, op, offset, flip)
        return x, tf.gather(y_all, i)

    def parallelism(workers: Any) -> Any:
        if workers == "auto":
            return tf.data.AUTOTUNE
        return int(workers) or None  # 0: sequential as written

    def build(workers: Any, naive: bool) -> Any:
        ds = tf.data.Dataset.from_generator(epochs, output_signature=(
            tf.TensorSpec([per_epoch], tf.int64), tf.TensorSpec([per_epoch, 2], tf.int64),
            tf.TensorSpec([per_epoch], tf.bool))).unbatch()
        options = tf.data.Options()
        options.deterministic = True
        if naive:
            ds = ds.map(preprocess).batch(b, drop_remainder=True)
            options.experimental_optimization.apply_default_optimizations = False
            options.autotune.enabled = False
        else:
            calls = parallelism(workers)
            ds = ds.map(preprocess, num_parallel_calls=calls) if calls is None else \
                ds.map(preprocess, num_parallel_calls=calls, deterministic=True)
            prefetch = settings.loader_prefetch
            ds = ds.batch(b, drop_remainder=True).prefetch(
                tf.data.AUTOTUNE if prefetch == "auto" else int(prefetch))
        return ds.with_options(options)

    class _Iter:
        def __init__(self, workers: Any, naive: bool):
            with tf.device("/CPU:0"):
                self.it = iter(build(workers, naive))

        def next(self) -> Any:
            return next(self.it)

        def close(self) -> None:
            self.it = None

    def describe(workers: Any, naive: bool) -> dict[str, Any]:
        prefetch = settings.loader_prefetch
        return {"library": "tf.data", "workers": 0 if naive else workers,
                "worker_kind": "threads (tf.data's pool, in the training process)",
                "map_parallel_calls": "sequential" if naive or workers == 0 else
                ("AUTOTUNE" if workers == "auto" else workers),
                "prefetch": 0 if naive else ("AUTOTUNE" if prefetch == "auto" else prefetch),
                "default_optimizations": not naive, "autotune": not naive,
                "deterministic": True}

    def explain(err: BaseException) -> str | None:
        found = _SCOPE.findall(str(err))
        if found:
            k, name = found[-1]
            return f"[input].preprocess[{k}] ({name}) failed: {first_line(err)}"
        return None

    return InputFeed(_Iter, settings.loader_workers, b, describe, explain,
                     naive=settings.input_pipeline == "naive")
