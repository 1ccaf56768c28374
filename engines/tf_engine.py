"""TensorFlow engine: Keras layers built from the spec, a GradientTape step, NHWC data."""

from __future__ import annotations

import os
import resource
import sys
from typing import Any, Callable

import numpy as np

from scenarios import Scenario, infer_stack, initial_weights, make_holdout
from scenarios.input import memory_batches

from .base import Engine, EngineUnavailable, first_line
from .builders.keras_layers import keras_layers
from .precision import (
    INITIAL_LOSS_SCALE,
    LOSS_SCALE_GROWTH_STEPS,
    cpu_bf16,
    loss_scale_text,
    precision_mode,
)
from .registry import REGISTRY
from .run.environment import gpu_identity, use_pci_bus_order
from .settings import RunSettings


class TFEngine(Engine):
    """Runs a scenario with TensorFlow: eager, tf.function, or tf.function(jit_compile=True)."""

    name = "tensorflow"

    def load(self, settings: RunSettings) -> dict[str, str]:
        # Must be set before TensorFlow is imported to take effect.
        for key, value in REGISTRY["tensorflow"].import_env:
            os.environ.setdefault(key, value)
        # Read when TensorFlow initialises CUDA (its first device query, after the import):
        # still in time in a pre-warmed process.
        use_pci_bus_order()
        if settings.device == "cpu" and settings.isolation == "process":
            # No GPU, no CUDA context in a CPU run's process (the app's own process in
            # --in-process is left alone: the environment is shared there).
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        if settings.device == "cuda":
            set_tf_autotune(settings, os.environ)
        try:
            import keras
            import tensorflow as tf
        except ImportError as err:
            hint = "'tensorflow[and-cuda]'" if settings.device == "cuda" else "tensorflow"
            raise EngineUnavailable(
                f"TensorFlow is not installed ({err}); install it with: pip install {hint}"
            ) from None
        self.tf, self.keras = tf, keras
        try:
            tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised (in-process hosting, second run)
            pass
        gpus = tf.config.list_physical_devices("GPU")
        self.gpu_facts: dict[str, Any] = {}
        self.precision = precision_mode(settings.precision)
        if settings.device == "cuda":
            self.device_name = self._pin_gpu(gpus, settings.gpu)
            # TensorFlow enables TF32 for matmuls and convolutions by default on Ampere+;
            # the comparison is float32 on both sides (torch_engine switches it off too),
            # unless the tf32 mode asks for it on both.
            tf.config.experimental.enable_tensor_float_32_execution(self.precision.tf32)
        else:
            self._hide_gpus(gpus)
            self.device_name = "/CPU:0"
        self._check_precision()
        # Read where the Keras LSTM layers are built (use_cudnn=).
        self.lstm_use_cudnn = lstm_use_cudnn(settings)
        return {"tensorflow": str(tf.__version__), "keras": str(keras.__version__),
                "numpy": str(np.__version__)}

    def _pin_gpu(self, gpus: list[Any], index: int) -> str:
        """Make `gpus[index]` TensorFlow's only GPU (it would otherwise initialise, and take
        memory on, every visible GPU, where PyTorch uses one); its logical device name."""
        tf = self.tf
        if not gpus:
            built = bool(tf.test.is_built_with_cuda())
            hint = ("check the NVIDIA driver and CUDA_VISIBLE_DEVICES" if built else
                    "install a CUDA build: pip install 'tensorflow[and-cuda]'")
            raise EngineUnavailable(f"device cuda: TensorFlow {tf.__version__} sees no GPU "
                                    f"(built with CUDA: {built}); {hint}")
        if index >= len(gpus):
            raise EngineUnavailable(f"device cuda: GPU {index} asked for (--gpu), TensorFlow "
                                    f"sees {len(gpus)} GPU(s)")
        try:
            tf.config.set_visible_devices([gpus[index]], "GPU")
        except RuntimeError:  # initialised by an earlier run in this process: keep its choice
            pass
        visible = list(tf.config.get_visible_devices("GPU"))
        if gpus[index] not in visible:
            raise EngineUnavailable(f"device cuda: GPU {index} was hidden from TensorFlow by "
                                    "an earlier run in this process (--in-process); restart")
        try:
            details = tf.config.experimental.get_device_details(gpus[index])
        except Exception:  # noqa: BLE001 - a description must never stop a run
            details = {}
        self.gpu_facts = gpu_identity(index, details.get("device_name"), len(visible))
        self.compute_capability = details.get("compute_capability")
        return f"/GPU:{visible.index(gpus[index])}"

    def _check_precision(self) -> None:
        """Refuse (unavailable) a precision this device cannot do, rather than run float32."""
        mode = self.precision
        if self.device_name.startswith("/GPU"):
            capability = getattr(self, "compute_capability", None)
            if mode.name in ("tf32", "bf16") and isinstance(capability, tuple) \
                    and capability < (8, 0):
                raise EngineUnavailable(
                    f"{mode.name} needs an NVIDIA GPU of compute capability 8.0 (Ampere) or "
                    f"newer; {self.gpu_facts.get('gpu_name')} is "
                    f"{'.'.join(map(str, capability))}")
            return
        if mode.name == "bf16" and cpu_bf16().level is None:
            raise EngineUnavailable(f"bf16 on this CPU: {cpu_bf16().evidence}; run fp32")

    def _hide_gpus(self, gpus: list[Any]) -> None:
        """--device cpu: hide every GPU before first use. Otherwise optimizer variables made
        outside a device scope, output parity and the Keras LSTM (cuDNN path) land on a GPU,
        and the process holds a CUDA context."""
        if not gpus:
            return
        try:
            self.tf.config.set_visible_devices([], "GPU")
        except RuntimeError:  # initialised by an earlier run in this process: config() says
            pass

    def _build_model(self, scenario: Scenario) -> Any:
        # One Keras layer per catalogue layer, from the builder table, weights already set.
        infos = infer_stack(scenario.layers, scenario.data.input_shape)
        weights = initial_weights(scenario, self.settings.seed)
        # A GRU follows the LSTM's rule: XLA cannot compile cuDNN's kernels either.
        layers = keras_layers(self.keras, infos, weights,
                              {"lstm_use_cudnn": self.lstm_use_cudnn,
                               "gru_use_cudnn": self.lstm_use_cudnn})
        return self.keras.Sequential([self.keras.Input(shape=scenario.data.input_shape), *layers])

    def _build_in_precision(self, scenario: Scenario) -> Any:
        """The model, its layers made under the run's Keras dtype policy. The policy is
        global in Keras (per thread): it is set for this model only and put back, so a later
        run in this process starts from the default again."""
        keras = self.keras
        if not self.precision.mixed:
            return self._build_model(scenario)
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.precision.keras_policy)
        try:
            model = self._build_model(scenario)
        finally:
            keras.config.set_dtype_policy(previous)
        computed = {layer.compute_dtype for layer in model.layers if layer.weights}
        stored = {v.dtype for v in model.weights}
        if computed != {self.precision.compute_dtype} or stored - {"float32"}:
            raise EngineUnavailable(
                f"{self.precision.name}: the Keras layers compute in "
                f"{', '.join(sorted(computed))} with variables in {', '.join(sorted(stored))}, "
                f"not {self.precision.compute_dtype} with float32 variables")
        return model

    def _optimizer(self, t: Any) -> Any:
        """The Keras optimizer of the scenario's [train] block `t` (no loss scaling)."""
        keras = self.keras
        if t.optimizer == "sgd":
            return keras.optimizers.SGD(learning_rate=t.learning_rate)
        if t.optimizer == "momentum":
            return keras.optimizers.SGD(learning_rate=t.learning_rate, momentum=t.momentum)
        return keras.optimizers.Adam(learning_rate=t.learning_rate, beta_1=t.beta1,
                                     beta_2=t.beta2, epsilon=t.epsilon)

    def build(self, scenario: Scenario, settings: RunSettings) -> None:
        tf, keras = self.tf, self.keras
        self.settings = settings
        with tf.device(self.device_name):
            self.model = self._build_in_precision(scenario)
            self.feed = None
            if settings.input_pipeline != "memory":
                # Each step takes its batch from tf.data (engines.pipelines.tf_input).
                from .pipelines.tf_input import tf_feed

                self.feed = tf_feed(tf, scenario, settings)
            # Batch 0 alone for output parity when a pipeline feeds the steps (it delivers
            # the same batches).
            batches = memory_batches(scenario, settings.batch_size, settings.seed,
                                     1 if self.feed is not None else settings.steps)
            keep = 1 if self.feed is not None else len(batches)
            # Materialise every batch on the device before any timing starts.
            self.xs = [tf.constant(b) for b in batches.x[:keep]]
            self.ys = [tf.constant(b) for b in batches.y[:keep]]
        t = scenario.train
        self.opt = self._optimizer(t)
        if self.precision.loss_scaling:
            # float16 gradients underflow: dynamic loss scaling, started where PyTorch's
            # GradScaler is started (torch_engine), growing and backing off alike.
            self.opt = keras.optimizers.LossScaleOptimizer(
                self.opt, initial_scale=INITIAL_LOSS_SCALE,
                dynamic_growth_steps=LOSS_SCALE_GROWTH_STEPS)
        self.opt.build(self.model.trainable_variables)
        model, opt = self.model, self.opt
        variables = model.trainable_variables
        mixed, scaled = self.precision.mixed, self.precision.loss_scaling

        def logits(x: Any, training: bool) -> Any:
            out = model(x, training=training)
            # 16-bit logits go to the loss in float32, as torch.autocast does for its losses.
            return tf.cast(out, tf.float32) if mixed else out

        if t.loss == "cross_entropy":
            # Labels [B] with logits [B, V], or [B, T] with [B, T, V]: the mean is over every
            # prediction either way (PyTorch's side flattens to the same).
            def loss_fn(y: Any, out: Any) -> Any:
                return tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
        else:
            def loss_fn(y: Any, out: Any) -> Any:
                return tf.reduce_mean(tf.square(out - y))

        def train_step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, logits(x, True))
                # LossScaleOptimizer unscales the gradients in apply_gradients and skips a
                # step whose gradients are not finite.
                target = opt.scale_loss(loss) if scaled else loss
            grads = tape.gradient(target, variables)
            opt.apply_gradients(zip(grads, variables))
            return loss

        def infer_step(x: Any, y: Any) -> Any:
            return loss_fn(y, logits(x, False))

        fn = train_step if settings.task == "train" else infer_step
        if settings.mode == "compiled":
            fn = tf.function(fn)
        elif settings.mode == "xla":
            fn = tf.function(fn, jit_compile=True)
        self.fn = fn

    def step(self, index: int) -> float:
        x, y = self.next_batch(index)
        with self.tf.device(self.device_name):
            loss = self.fn(x, y)
        # .numpy() copies the loss to the host, which waits for the step to finish.
        return float(loss.numpy())

    def prepare_evaluation(self, scenario: Scenario, settings: RunSettings) -> None:
        held = make_holdout(scenario.data, settings.batch_size, settings.seed)
        with self.tf.device(self.device_name):
            self.eval_batches = [(self.tf.constant(x), self.tf.constant(y)) for x, y in held]
        self.eval_classified = scenario.train.loss == "cross_entropy"

    def evaluate(self) -> tuple[float, float | None]:
        tf = self.tf
        loss_sum, correct, targets, count = 0.0, 0, 0, 0
        with tf.device(self.device_name):
            for x, y in self.eval_batches:
                out = self.model(x, training=False)  # eager; dropout off, running statistics
                if self.eval_classified:
                    # Over every position of every sample (per-position targets too).
                    loss = tf.reduce_mean(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
                    hits = tf.equal(tf.argmax(out, axis=-1, output_type=y.dtype), y)
                    correct += int(tf.reduce_sum(tf.cast(hits, tf.int64)).numpy())
                    targets += int(tf.size(y))
                else:
                    loss = tf.reduce_mean(tf.square(out - y))
                n = int(x.shape[0])
                loss_sum += float(loss.numpy()) * n
                count += n
        accuracy = correct / targets if self.eval_classified else None
        return loss_sum / count, accuracy

    def outputs(self, index: int = 0) -> Any:
        with self.tf.device(self.device_name):
            out = self.model(self.xs[index % len(self.xs)], training=False)
            return self.tf.cast(out, self.tf.float32).numpy()

    # -- the peak probe (engines.efficiency times it) --------------------------------------
    def peak_facts(self) -> dict[str, Any]:
        """What the measured peak depends on beyond the machine: framework and GPU."""
        facts = {"framework": f"tensorflow {self.tf.__version__}"}
        if self.device_name.startswith("/GPU"):
            facts["gpu"] = self.gpu_facts.get("gpu_name")
        return facts

    def matmul_probe(self, n: int) -> Callable[[], None]:
        """One n x n matmul at the run's compute dtype on the run's device, synchronised."""
        tf = self.tf
        dtype = getattr(tf, self.precision.compute_dtype)
        with tf.device(self.device_name):
            a = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 1)), dtype)
            b = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 2)), dtype)

        def run() -> None:
            with tf.device(self.device_name):
                product = tf.linalg.matmul(a, b)
            product[0, 0].numpy()  # .numpy() waits for the product

        return run

    def after_matmul_probe(self) -> None:
        """Forget the probe's memory: the device peak reported is the model's."""
        if self.device_name.startswith("/GPU"):
            try:
                self.tf.config.experimental.reset_memory_stats(self.device_name.lstrip("/"))
            except Exception:  # noqa: BLE001 - statistics only
                pass

    def config(self) -> dict[str, Any]:
        tf = self.tf
        mode = {"eager": "eager", "compiled": "tf.function", "xla": "tf.function+XLA"}
        onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
        on_gpu = self.device_name.startswith("/GPU")
        cfg: dict[str, Any] = {
            "mode": mode[self.settings.mode],
            "device": self.device_name,
            "dtype": self.precision.describe,
            "precision": self.precision.name,
            "compute_dtype": _compute_dtype(getattr(self, "model", None)),
            "variable_dtype": self.settings.dtype,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "onednn": onednn,
            "tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled())
            if on_gpu else False,
            "xla": self.settings.mode == "xla",
            "visible_gpus": len(tf.config.get_visible_devices("GPU")),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        if self.precision.loss_scaling:
            cfg["loss_scale"] = loss_scale_text()
        elif self.precision.name == "bf16" and not on_gpu:
            cfg["bf16_cpu"] = cpu_bf16().level
        if on_gpu:
            build = dict(tf.sysconfig.get_build_info())
            cfg.update(self.gpu_facts)
            cfg.update({
                "cuda_version": build.get("cuda_version"),
                "cudnn_version": build.get("cudnn_version"),
                # TensorFlow reads TF_CUDNN_USE_AUTOTUNE as a boolean, default true.
                "cudnn_autotune": os.environ.get("TF_CUDNN_USE_AUTOTUNE", "1").lower()
                not in ("0", "false"),
                # Only the exact string "true" turns growth on; anything else leaves the
                # default, which reserves nearly all GPU memory at start (a user's setting
                # wins over the registry's default, so it is recorded).
                "memory_growth": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH") == "true",
            })
        if on_gpu and _has_lstm(getattr(self, "model", None)):
            cfg["lstm_kernel"] = "cuDNN" if self.lstm_use_cudnn is not False else \
                "generic (use_cudnn=False: XLA cannot compile cuDNN's LSTM/GRU, keras#18456)"
        return cfg

    def peak_memory_bytes(self) -> dict[str, int | None]:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out: dict[str, int | None] = {"host_peak_rss": rss * (1 if sys.platform == "darwin" else 1024)}
        if getattr(self, "device_name", "").startswith("/GPU"):
            try:
                info = self.tf.config.experimental.get_memory_info(self.device_name.lstrip("/"))
                # In use by TensorFlow's allocator (what the pool reserved may be more).
                out["device_peak"] = int(info["peak"])
                out["device_current"] = int(info["current"])
            except Exception:  # noqa: BLE001 - a telemetry query must never end a run
                out["device_peak"] = None
        return out

    def classify_error(self, err: BaseException) -> str | None:
        tf = getattr(self, "tf", None)
        if tf is not None and isinstance(err, tf.errors.ResourceExhaustedError):
            return f"out of memory on {self.device_name}: {first_line(err)}"
        if "CudnnRNN" in str(err) and "XLA" in str(err):
            return ("XLA cannot compile cuDNN's LSTM kernel (keras-team/keras#18456); run "
                    f"--mode compiled or eager: {first_line(err)}")
        return super().classify_error(err)


def lstm_use_cudnn(settings: RunSettings) -> bool | str:
    """Keras LSTM's use_cudnn for these settings: never under XLA (XLA cannot compile the
    cuDNN kernel, keras-team/keras#18456) nor on the CPU; Keras decides on a GPU otherwise."""
    if settings.device != "cuda" or settings.mode == "xla":
        return False
    return "auto"


def set_tf_autotune(settings: RunSettings, environ: Any) -> None:
    """cuDNN autotuning as the settings say (the same on both sides); read when a
    convolution first runs, and by XLA when it first compiles."""
    environ["TF_CUDNN_USE_AUTOTUNE"] = "1" if settings.cudnn_autotune else "0"
    flag = "--xla_gpu_autotune_level=0"
    flags = environ.get("XLA_FLAGS", "")
    if not settings.cudnn_autotune and settings.mode == "xla" and flag not in flags:
        environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


def _compute_dtype(model: Any) -> str | None:
    """The dtype the model's layers with weights compute in (None before build)."""
    found = {layer.compute_dtype for layer in getattr(model, "layers", []) if layer.weights}
    return ", ".join(sorted(found)) or None


def _has_lstm(model: Any) -> bool:
    """Whether the model has a recurrent layer whose kernel cuDNN may run (LSTM or GRU)."""
    return model is not None and any(type(layer).__name__ in ("LSTM", "GRU")
                                      for layer in getattr(model, "layers", []))
