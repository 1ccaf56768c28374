"""TensorFlow engine: Keras layers built from the spec, a GradientTape step, NHWC data."""

from __future__ import annotations

import os
import resource
import sys
from typing import Any

import numpy as np

from scenarios import Scenario, infer_stack, initial_weights, make_batches

from .base import Engine, EngineUnavailable
from .builders.keras_layers import keras_layers
from .registry import REGISTRY
from .settings import RunSettings


class TFEngine(Engine):
    """Runs a scenario with TensorFlow: eager, tf.function, or tf.function(jit_compile=True)."""

    name = "tensorflow"

    def load(self, settings: RunSettings) -> dict[str, str]:
        # Must be set before TensorFlow is imported to take effect.
        for key, value in REGISTRY["tensorflow"].import_env:
            os.environ.setdefault(key, value)
        try:
            import keras
            import tensorflow as tf
        except ImportError as err:
            raise EngineUnavailable(
                f"TensorFlow is not installed ({err}); install it with: pip install tensorflow"
            ) from None
        self.tf, self.keras = tf, keras
        try:
            tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised (in-process hosting, second run)
            pass
        gpus = tf.config.list_physical_devices("GPU")
        if settings.device == "cuda":
            if not gpus:
                raise EngineUnavailable(
                    f"device cuda: TensorFlow {tf.__version__} sees no GPU "
                    f"(built with CUDA: {tf.test.is_built_with_cuda()})")
            self.device_name = "/GPU:0"
            # TensorFlow enables TF32 for matmuls and convolutions by default on Ampere+;
            # the comparison is float32 on both sides (torch_engine switches it off too).
            tf.config.experimental.enable_tensor_float_32_execution(False)
        else:
            self.device_name = "/CPU:0"
        return {"tensorflow": str(tf.__version__), "keras": str(keras.__version__),
                "numpy": str(np.__version__)}

    def _build_model(self, scenario: Scenario) -> Any:
        # One Keras layer per catalogue layer, from the builder table, weights already set.
        infos = infer_stack(scenario.layers, scenario.data.input_shape)
        weights = initial_weights(scenario, self.settings.seed)
        layers = keras_layers(self.keras, infos, weights)
        return self.keras.Sequential([self.keras.Input(shape=scenario.data.input_shape), *layers])

    def build(self, scenario: Scenario, settings: RunSettings) -> None:
        tf, keras = self.tf, self.keras
        self.settings = settings
        with tf.device(self.device_name):
            self.model = self._build_model(scenario)
            batches = make_batches(scenario.data, settings.batch_size, settings.seed)
            # Materialise every batch on the device before any timing starts.
            self.xs = [tf.constant(b) for b in batches.x]
            self.ys = [tf.constant(b) for b in batches.y]
        t = scenario.train
        if t.optimizer == "sgd":
            self.opt = keras.optimizers.SGD(learning_rate=t.learning_rate)
        elif t.optimizer == "momentum":
            self.opt = keras.optimizers.SGD(learning_rate=t.learning_rate, momentum=t.momentum)
        else:
            self.opt = keras.optimizers.Adam(learning_rate=t.learning_rate, beta_1=t.beta1,
                                             beta_2=t.beta2, epsilon=t.epsilon)
        self.opt.build(self.model.trainable_variables)
        model, opt = self.model, self.opt
        variables = model.trainable_variables

        if t.loss == "cross_entropy":
            def loss_fn(y: Any, out: Any) -> Any:
                return tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
        else:
            def loss_fn(y: Any, out: Any) -> Any:
                return tf.reduce_mean(tf.square(out - y))

        def train_step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables))
            return loss

        def infer_step(x: Any, y: Any) -> Any:
            return loss_fn(y, model(x, training=False))

        fn = train_step if settings.task == "train" else infer_step
        if settings.mode == "compiled":
            fn = tf.function(fn)
        elif settings.mode == "xla":
            fn = tf.function(fn, jit_compile=True)
        self.fn = fn

    def step(self, index: int) -> float:
        n = len(self.xs)
        with self.tf.device(self.device_name):
            loss = self.fn(self.xs[index % n], self.ys[index % n])
        # .numpy() copies the loss to the host, which waits for the step to finish.
        return float(loss.numpy())

    def outputs(self, index: int = 0) -> Any:
        return self.model(self.xs[index % len(self.xs)], training=False).numpy()

    def config(self) -> dict[str, Any]:
        tf = self.tf
        mode = {"eager": "eager", "compiled": "tf.function", "xla": "tf.function+XLA"}
        onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
        return {
            "mode": mode[self.settings.mode],
            "device": self.device_name,
            "dtype": self.settings.dtype,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "onednn": onednn,
            "tf32": bool(tf.config.experimental.is_tensor_float_32_execution_enabled())
            if self.device_name.startswith("/GPU") else False,
            "xla": self.settings.mode == "xla",
        }

    def peak_memory_bytes(self) -> dict[str, int | None]:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out: dict[str, int | None] = {"host_peak_rss": rss * (1 if sys.platform == "darwin" else 1024)}
        if getattr(self, "device_name", "").startswith("/GPU"):
            try:
                out["device_peak"] = int(self.tf.config.experimental.get_memory_info("GPU:0")["peak"])
            except Exception:  # noqa: BLE001 - a telemetry query must never end a run
                out["device_peak"] = None
        return out

    def classify_error(self, err: BaseException) -> str | None:
        tf = getattr(self, "tf", None)
        if tf is not None and isinstance(err, tf.errors.ResourceExhaustedError):
            return f"out of memory on {self.device_name}: {str(err).splitlines()[0][:200]}"
        return super().classify_error(err)
