"""PyTorch engine: nn.Module built from the spec, numpy weights transplanted, NCHW data."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import sys
import sysconfig
from typing import Any, Callable

import numpy as np

from scenarios import Scenario, infer_stack, initial_weights, make_holdout
from scenarios.input import memory_batches

from .base import Engine, EngineFailure, EngineUnavailable, first_line
from .builders.torch_layers import TorchModelBuilder
from .precision import (
    INITIAL_LOSS_SCALE,
    LOSS_SCALE_GROWTH_STEPS,
    cpu_bf16,
    loss_scale_text,
    precision_mode,
)
from .run.environment import gpu_identity, use_pci_bus_order
from .settings import RunSettings


class TorchEngine(Engine):
    """Runs a scenario with PyTorch, eager or torch.compile, on CPU or CUDA."""

    name = "pytorch"

    def load(self, settings: RunSettings) -> dict[str, str]:
        # Both read when CUDA initialises (lazily, at the first CUDA call), not at import:
        # still in time in a pre-warmed process.
        use_pci_bus_order()
        if settings.device == "cpu" and settings.isolation == "process":
            # No GPU, no CUDA context in a CPU run's process (the app's own process in
            # --in-process is left alone: the environment is shared there).
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        try:
            import torch
        except ImportError as err:
            raise EngineUnavailable(
                f"PyTorch is not installed ({err}); install it with: pip install torch"
            ) from None
        self.torch = torch
        torch.set_num_threads(settings.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set in this process (in-process hosting, second run)
            pass
        self.precision = precision_mode(settings.precision)
        if settings.device == "cuda":
            self.device = self._pin_gpu(settings)
            # float32 means float32: cuDNN convolutions default to TF32 on Ampere+, and
            # TensorFlow's side is switched off too (tf_engine), so neither side gets it;
            # the tf32 mode switches it on for both.
            torch.backends.cuda.matmul.allow_tf32 = self.precision.tf32
            torch.backends.cudnn.allow_tf32 = self.precision.tf32
            # cuDNN autotuning the same on both sides (TensorFlow autotunes by default).
            torch.backends.cudnn.benchmark = settings.cudnn_autotune
        else:
            self.device = torch.device("cpu")
        self._check_precision()
        # Plain strings: a TorchVersion object would import torch in the UI process on unpickling.
        return {"torch": str(torch.__version__), "numpy": str(np.__version__)}

    def _pin_gpu(self, settings: RunSettings) -> Any:
        """The CUDA device `settings.gpu`, made current (torch.cuda.synchronize() and any
        implicit allocation then go to it, not to GPU 0)."""
        torch = self.torch
        if not torch.cuda.is_available():
            hint = ("install a CUDA build of PyTorch (pytorch.org, Get started)"
                    if not torch.version.cuda else "check the NVIDIA driver and "
                    "CUDA_VISIBLE_DEVICES")
            raise EngineUnavailable("device cuda: PyTorch sees no CUDA GPU "
                                    f"(torch {torch.__version__}, CUDA build: "
                                    f"{torch.version.cuda or 'no'}); {hint}")
        count = torch.cuda.device_count()
        if settings.gpu >= count:
            raise EngineUnavailable(f"device cuda: GPU {settings.gpu} asked for (--gpu), "
                                    f"PyTorch sees {count} GPU(s)")
        if settings.mode in ("compiled", "xla"):
            problem = triton_build_problem()
            if problem:
                raise EngineUnavailable(
                    f"torch.compile on a GPU builds Triton kernels with a C compiler: "
                    f"{problem}; install gcc and the Python headers (python3-dev), or run "
                    "--mode eager")
        device = torch.device("cuda", settings.gpu)
        torch.cuda.set_device(device)
        self.gpu_facts = gpu_identity(settings.gpu, torch.cuda.get_device_name(device), count)
        return device

    def _check_precision(self) -> None:
        """Refuse (unavailable) a precision this device cannot do, rather than run float32."""
        torch, mode = self.torch, self.precision
        if self.device.type == "cuda":
            if mode.name not in ("tf32", "bf16"):
                return
            major, minor = torch.cuda.get_device_capability(self.device)
            if major < 8:
                raise EngineUnavailable(
                    f"{mode.name} needs an NVIDIA GPU of compute capability 8.0 (Ampere) or "
                    f"newer; {torch.cuda.get_device_name(self.device)} is {major}.{minor}")
            return
        if mode.name != "bf16":
            return
        try:  # a private query of torch's oneDNN build; older builds may lack it
            onednn_bf16 = bool(torch.backends.mkldnn.is_available()
                               and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            onednn_bf16 = cpu_bf16().level in ("native", "emulated")
        if not onednn_bf16:
            raise EngineUnavailable(
                f"bf16 on this CPU: PyTorch's oneDNN has no bfloat16 kernels here "
                f"(CPU capability {torch.backends.cpu.get_cpu_capability()}; "
                f"{cpu_bf16().evidence}); run fp32")

    def _autocast(self) -> Any:
        """torch.autocast at the run's 16-bit dtype (forward and loss only), or nothing."""
        if not self.precision.mixed:
            return contextlib.nullcontext()
        return self.torch.autocast(self.device.type, dtype=getattr(
            self.torch, self.precision.compute_dtype))

    def _computed_dtype(self) -> str:
        """The dtype a matmul really computes in under this run's autocast (a 2x2 check, so
        a mixed mode never runs in float32 unnoticed)."""
        torch = self.torch
        ones = torch.ones(2, 2, device=self.device)
        with self._autocast():
            got = torch.nn.functional.linear(ones, ones).dtype
        return str(got).replace("torch.", "")

    def _build_model(self, scenario: Scenario) -> Any:
        # One flat nn.Sequential of every layer's modules, from the catalogue's builder table.
        infos = infer_stack(scenario.layers, scenario.data.input_shape)
        weights = initial_weights(scenario, self.settings.seed)
        return self.torch.nn.Sequential(*TorchModelBuilder(self.torch).stack(infos, weights))

    def build(self, scenario: Scenario, settings: RunSettings) -> None:
        torch = self.torch
        self.settings = settings
        self.model = self._build_model(scenario).to(self.device)
        self.feed = None
        if settings.input_pipeline != "memory":
            # Each step takes its batch from a DataLoader (engines.pipelines.torch_input).
            from .pipelines.torch_input import torch_feed

            self.feed = torch_feed(scenario, settings, self.device)
        # Batch 0 alone for output parity when a pipeline feeds the steps (it delivers the
        # same batches).
        batches = memory_batches(scenario, settings.batch_size, settings.seed,
                                 1 if self.feed is not None else settings.steps)
        x = batches.x[:1] if self.feed is not None else batches.x
        if x.ndim == 5:  # images: NHWC -> NCHW, torch's native layout
            x = x.transpose(0, 1, 4, 2, 3)
        # Materialise every batch on the device before any timing starts.
        self.xs = [torch.from_numpy(np.ascontiguousarray(b)).to(self.device) for b in x]
        self.ys = [torch.from_numpy(b).to(self.device) for b in batches.y[:len(self.xs)]]
        t = scenario.train
        params = [p for p in self.model.parameters() if p.requires_grad]
        if t.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=t.learning_rate)
        elif t.optimizer == "momentum":
            self.opt = torch.optim.SGD(params, lr=t.learning_rate, momentum=t.momentum)
        else:
            self.opt = torch.optim.Adam(params, lr=t.learning_rate, betas=(t.beta1, t.beta2),
                                        eps=t.epsilon)
        F = torch.nn.functional
        self.loss_fn = cross_entropy(F) if t.loss == "cross_entropy" else F.mse_loss
        self.forward = self.model
        if settings.mode in ("compiled", "xla"):
            self.forward = torch.compile(self.model)
        self.train = settings.task == "train"
        if not self.train:
            self.model.eval()
        self.is_cuda = self.device.type == "cuda"
        self.compute_dtype = self._computed_dtype()
        if self.compute_dtype != self.precision.compute_dtype:
            raise EngineUnavailable(
                f"{self.precision.name}: torch.autocast on {self.device} computed "
                f"{self.compute_dtype}, not {self.precision.compute_dtype}")
        # float16 gradients underflow: dynamic loss scaling, started where Keras starts.
        self.scaler = torch.amp.GradScaler(
            "cuda", init_scale=INITIAL_LOSS_SCALE,
            growth_interval=LOSS_SCALE_GROWTH_STEPS) if self.precision.loss_scaling else None
        self.step_fn: Callable[[Any, Any], Any] = self._mixed_step if self.precision.mixed \
            else self._plain_step

    def _plain_step(self, x: Any, y: Any) -> Any:
        """float32 (and tf32): no autocast, no scaler."""
        if self.train:
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.forward(x), y)
            loss.backward()
            self.opt.step()
        else:
            with self.torch.inference_mode():
                loss = self.loss_fn(self.forward(x), y)
        return loss

    def _mixed_step(self, x: Any, y: Any) -> Any:
        """bf16/fp16: autocast around forward and loss; the logits go to the loss in float32
        (as Keras's side does); float16 scales the loss (GradScaler skips a step with
        non-finite gradients and halves the scale)."""
        if not self.train:
            with self.torch.inference_mode(), self._autocast():
                return self.loss_fn(self.forward(x).float(), y)
        self.opt.zero_grad(set_to_none=True)
        with self._autocast():
            loss = self.loss_fn(self.forward(x).float(), y)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        return loss

    def step(self, index: int) -> float:
        x, y = self.next_batch(index)
        loss = self.step_fn(x, y)
        # .item() copies the loss to the host: it synchronises the device as well.
        value = loss.item()
        if self.is_cuda:
            self.torch.cuda.synchronize()
        return value

    def prepare_evaluation(self, scenario: Scenario, settings: RunSettings) -> None:
        held = make_holdout(scenario.data, settings.batch_size, settings.seed)
        to = self.device
        self.eval_batches = [
            (self.torch.from_numpy(np.ascontiguousarray(
                x.transpose(0, 3, 1, 2) if x.ndim == 4 else x)).to(to),  # images: NCHW
             self.torch.from_numpy(y).to(to))
            for x, y in held]
        self.eval_classified = scenario.train.loss == "cross_entropy"

    def evaluate(self) -> tuple[float, float | None]:
        torch = self.torch
        F = torch.nn.functional
        was_training = self.model.training
        # The eager model, not the compiled forward: evaluation is not timed, and a compiled
        # forward would recompile for eval mode.
        self.model.eval()
        loss_sum, correct, targets, count = 0.0, 0, 0, 0
        try:
            with torch.inference_mode():
                for x, y in self.eval_batches:
                    out = self.model(x)
                    if self.eval_classified:
                        # Over every position of every sample (per-position targets too).
                        logits, labels = out.reshape(-1, out.shape[-1]), y.reshape(-1)
                        loss = F.cross_entropy(logits, labels)
                        correct += int((logits.argmax(dim=-1) == labels).sum().item())
                        targets += labels.numel()
                    else:
                        loss = F.mse_loss(out, y)
                    loss_sum += float(loss.item()) * len(x)
                    count += len(x)
        finally:
            self.model.train(was_training)
        accuracy = correct / targets if self.eval_classified else None
        return loss_sum / count, accuracy

    def outputs(self, index: int = 0) -> Any:
        # Inference behaviour, as Keras's training=False: running statistics in batch norm,
        # no dropout. The training mode is restored for the steps that may follow.
        training = self.model.training
        self.model.eval()
        try:
            with self.torch.inference_mode(), self._autocast():
                return self.model(self.xs[index % len(self.xs)]).float().cpu().numpy()
        finally:
            self.model.train(training)

    # -- the peak probe (engines.efficiency times it) --------------------------------------
    def peak_facts(self) -> dict[str, Any]:
        """What the measured peak depends on beyond the machine: framework and GPU."""
        facts = {"framework": f"torch {self.torch.__version__}"}
        if self.device.type == "cuda":
            facts["gpu"] = self.torch.cuda.get_device_name(self.device)
        return facts

    def matmul_probe(self, n: int) -> Callable[[], None]:
        """One n x n matmul at the run's compute dtype on the run's device, synchronised."""
        torch = self.torch
        dtype = getattr(torch, self.precision.compute_dtype)
        # Made on the device, from a generator of its own (the global seed stays untouched).
        gen = torch.Generator(device=self.device).manual_seed(0)
        a = torch.randn(n, n, generator=gen, device=self.device).to(dtype)
        b = torch.randn(n, n, generator=gen, device=self.device).to(dtype)

        def run() -> None:
            (a @ b)[0, 0].item()  # .item() waits for the product

        return run

    def after_matmul_probe(self) -> None:
        """Forget the probe's memory: the device peak reported is the model's."""
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats(self.device)

    def config(self) -> dict[str, Any]:
        torch = self.torch
        # torch.compile wraps the model (forward and backward); zero_grad and the optimiser
        # step stay eager, whereas tf.function compiles the whole step. Said in the label.
        mode = {"eager": "eager", "compiled": "torch.compile (model; optimizer eager)",
                "xla": "torch.compile (model; optimizer eager)"}
        on_gpu = self.device.type == "cuda"
        cfg: dict[str, Any] = {
            "mode": mode[self.settings.mode],
            "device": str(self.device),
            "dtype": self.precision.describe,
            "precision": self.precision.name,
            "compute_dtype": getattr(self, "compute_dtype", None),
            "variable_dtype": self.settings.dtype,
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
            "onednn": bool(torch.backends.mkldnn.is_available()),
            "tf32": bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)
            if on_gpu else False,
            "xla": False,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        if self.precision.loss_scaling:
            cfg["loss_scale"] = loss_scale_text()
        elif self.precision.name == "bf16" and not on_gpu:
            cfg["bf16_cpu"] = cpu_bf16().level
        if on_gpu:
            cfg.update(self.gpu_facts)
            cfg.update({
                # "highest" in fp32 (no TF32), "high" in tf32: what torch's matmuls may use.
                "float32_matmul_precision": torch.get_float32_matmul_precision(),
                "cuda_version": torch.version.cuda,
                "cudnn_version": str(torch.backends.cudnn.version()),
                "cudnn_autotune": bool(torch.backends.cudnn.benchmark),
            })
            model = getattr(self, "model", None)
            if model is not None and any(isinstance(m, (torch.nn.LSTM, torch.nn.GRU))
                                            for m in model.modules()):
                cfg["lstm_kernel"] = "cuDNN" if torch.backends.cudnn.enabled else "native"
        if self.settings.mode == "xla":
            cfg["note"] = ("XLA is TensorFlow-only; PyTorch runs torch.compile "
                           "(model only, optimizer step eager)")
        elif self.settings.mode == "compiled":
            cfg["note"] = ("torch.compile covers the model's forward and backward; the optimizer "
                           "step runs eager (tf.function compiles the whole step)")
        return cfg

    def peak_memory_bytes(self) -> dict[str, int | None]:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out: dict[str, int | None] = {"host_peak_rss": rss * (1 if sys.platform == "darwin" else 1024)}
        device = getattr(self, "device", None)
        if device is not None and device.type == "cuda":
            out["device_peak"] = int(self.torch.cuda.max_memory_allocated(device))
            # Held by the caching allocator: the part of NVML's per-process figure that is not
            # the CUDA context.
            out["device_current"] = int(self.torch.cuda.memory_reserved(device))
        return out

    def classify_error(self, err: BaseException) -> str | None:
        torch = getattr(self, "torch", None)
        if torch is not None and isinstance(err, _oom_types(torch)):
            return f"out of memory on {self.device}: {first_line(err)}"
        if isinstance(err, EngineFailure) and str(err).startswith("input pipeline:"):
            return str(err)
        if "DataLoader worker" in str(err):  # torch's SIGCHLD handler raised between steps
            return f"input pipeline: a DataLoader worker process died: {first_line(err)}"
        if "Failed to find C compiler" in str(err):
            return ("torch.compile on a GPU builds Triton kernels with a C compiler and none "
                    "was found: install gcc (and python3-dev), or run --mode eager")
        return super().classify_error(err)


def cross_entropy(F: Any) -> Any:
    """Mean cross-entropy from logits over every prediction: [B, V] logits with [B] labels,
    or [B, T, V] with [B, T] (next-token targets at every position; torch wants the classes
    second, so both are flattened to one prediction per row)."""
    def loss(logits: Any, labels: Any) -> Any:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    return loss


def _oom_types(torch: Any) -> tuple[type, ...]:
    """torch's out-of-memory exception types: torch.OutOfMemoryError exists from torch 2.5,
    torch.cuda.OutOfMemoryError before (the same class where both exist)."""
    found = (getattr(torch, "OutOfMemoryError", None),
             getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None))
    return tuple(t for t in found if isinstance(t, type))


def triton_build_problem() -> str | None:
    """Why Triton could not build its GPU launcher here, or None: it compiles a small C
    extension at the first compiled step, with $CC, else gcc, else clang, against Python.h."""
    if not (os.environ.get("CC") or shutil.which("gcc") or shutil.which("clang")):
        return "none found (CC, gcc, clang)"
    scheme = sysconfig.get_default_scheme()
    if scheme == "posix_local":  # Debian's scheme; Triton reads the headers of posix_prefix
        scheme = "posix_prefix"
    include = sysconfig.get_paths(scheme=scheme)["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"the Python headers are missing (no Python.h in {include})"
    return None
