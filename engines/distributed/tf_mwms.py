"""TensorFlow replica: MultiWorkerMirroredStrategy (TF_CONFIG on loopback) with a custom loop.

Keras 3's fit() does not support this strategy (keras-team/keras#20585): the engine's own
GradientTape step runs inside strategy.run. A custom loop *sums* gradients over replicas, so
each replica's loss is its per-example losses summed and divided by the global batch
(tf.nn.compute_average_loss): the sum over replicas is then the global mean, as DDP's average
is. The loss is a plain per-example function, not a Keras `Loss` object (that one divides by
the number of replicas again, tensorflow/tensorflow#58938). Collectives: RING on CPU, NCCL on
GPUs. The loss each rank reports is its slice's mean (the group averages them).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

from scenarios import Scenario, make_batches

from ..base import EngineUnavailable
from ..settings import RunSettings
from ..tf_engine import TFEngine
from .replica import Replica, ReplicaEngine, load_on_own_gpu
from .rules import replica_slice


def tf_config(replica: Replica) -> str:
    """The TF_CONFIG of one worker of the group."""
    return json.dumps({"cluster": {"worker": replica.endpoints},
                       "task": {"type": "worker", "index": replica.rank}})


class TFReplicaEngine(TFEngine, ReplicaEngine):
    """One worker of a MultiWorkerMirroredStrategy group."""

    def __init__(self, replica: Replica):
        self.replica = replica

    def load(self, settings: RunSettings) -> dict[str, str]:
        if settings.mode == "xla":
            raise EngineUnavailable(
                "--mode xla with MultiWorkerMirroredStrategy: XLA cannot compile its "
                "collectives on this path; run --mode compiled (tf.function)")
        # Read when the strategy is made (after the thread settings, in load()).
        os.environ["TF_CONFIG"] = tf_config(self.replica)
        versions = load_on_own_gpu(super().load, settings, self.replica)
        tf = self.tf
        impl = tf.distribute.experimental.CommunicationImplementation
        self.collective = "NCCL" if settings.device == "cuda" else "RING"
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=getattr(impl, self.collective),
            timeout_seconds=self.replica.collective_timeout_s)
        try:
            self.strategy = tf.distribute.MultiWorkerMirroredStrategy(
                communication_options=options)
        except (ValueError, RuntimeError, tf.errors.OpError) as err:
            raise EngineUnavailable(f"MultiWorkerMirroredStrategy did not start: {err}") \
                from err
        if self.strategy.num_replicas_in_sync != self.replica.world:
            raise EngineUnavailable(
                f"MultiWorkerMirroredStrategy has {self.strategy.num_replicas_in_sync} "
                f"replicas in sync, expected {self.replica.world}")
        return versions

    def build(self, scenario: Scenario, settings: RunSettings) -> None:
        tf = self.tf
        self.settings = settings
        strategy = self.strategy
        t = scenario.train
        with strategy.scope():
            self.model = self._build_in_precision(scenario)
            self.opt = self._optimizer(t)
            self.opt.build(self.model.trainable_variables)
        part = replica_slice(self.replica.rank, self.replica.world, settings.batch_size)
        batches = make_batches(scenario.data, settings.batch_size, settings.seed)
        with tf.device(self.device_name):
            self.xs = [tf.constant(b[part]) for b in batches.x]
            self.ys = [tf.constant(b[part]) for b in batches.y]
        self.batch_norm = any(type(layer).__name__ == "BatchNormalization"
                              for layer in self.model.layers)
        model, opt, mixed = self.model, self.opt, self.precision.mixed
        variables = model.trainable_variables
        global_batch = settings.batch_size

        def logits(x: Any, training: bool) -> Any:
            out = model(x, training=training)
            return tf.cast(out, tf.float32) if mixed else out

        if t.loss == "cross_entropy":
            def per_example(y: Any, out: Any) -> Any:
                losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out)
                # [B, T] next-token targets: each sample's mean over its positions (every
                # sample has as many, so the batch mean is the mean over every prediction).
                return tf.reshape(tf.reduce_mean(tf.reshape(losses, [tf.shape(losses)[0], -1]),
                                                 axis=1), [-1])
        else:
            def per_example(y: Any, out: Any) -> Any:
                sq = tf.square(out - y)
                return tf.reduce_mean(tf.reshape(sq, [tf.shape(sq)[0], -1]), axis=1)

        def replica_train(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                per = per_example(y, logits(x, True))
                loss = tf.nn.compute_average_loss(per, global_batch_size=global_batch)
            grads = tape.gradient(loss, variables)
            # The Keras optimizer all-reduces (SUM) the gradients over the replicas.
            opt.apply_gradients(zip(grads, variables))
            return tf.reduce_mean(per)

        def train_step(x: Any, y: Any) -> Any:
            return strategy.run(replica_train, args=(x, y))

        def infer_step(x: Any, y: Any) -> Any:  # no gradients: nothing to all-reduce
            return tf.reduce_mean(per_example(y, logits(x, False)))

        fn = train_step if settings.task == "train" else infer_step
        if settings.mode == "compiled":
            fn = tf.function(fn)
        self.fn = fn

    def step(self, index: int) -> float:
        n = len(self.xs)
        with self.tf.device(self.device_name):
            result = self.fn(self.xs[index % n], self.ys[index % n])
        local = self.strategy.experimental_local_results(result)[0] \
            if self.settings.task == "train" else result
        return float(local.numpy())

    def distributed_facts(self) -> dict[str, Any]:
        return {"backend": f"TensorFlow collectives ({self.collective})",
                "strategy": "MultiWorkerMirroredStrategy (custom loop, strategy.run)",
                "collective": f"{self.collective} all-reduce (gradients summed; loss scaled "
                              "by the global batch)",
                "batch_norm": ("per-replica (not synchronised)"
                               if getattr(self, "batch_norm", False) else None)}

    def time_allreduce(self, repeats: int = 10) -> float | None:
        """Median seconds to all-reduce tensors of the gradients' sizes with the strategy's
        own collective (a barrier-like small all-reduce before each, not timed)."""
        tf, strategy = self.tf, self.strategy
        shapes = [v.shape for v in self.model.trainable_variables]
        grads = [tf.ones(s) for s in shapes]
        sync = tf.ones(())
        ReduceOp = tf.distribute.ReduceOp

        @tf.function
        def reduce_all() -> Any:
            def fn() -> Any:
                ctx = tf.distribute.get_replica_context()
                return ctx.all_reduce(ReduceOp.SUM, grads)
            return strategy.run(fn)

        @tf.function
        def barrier() -> Any:
            return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce(
                ReduceOp.SUM, sync))

        times = []
        for _ in range(repeats + 1):
            self.strategy.experimental_local_results(barrier())[0].numpy()
            t0 = time.perf_counter()
            out = reduce_all()
            self.strategy.experimental_local_results(out)[0][0].numpy()
            times.append(time.perf_counter() - t0)
        return statistics.median(times[1:])

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["replica"] = {"rank": self.replica.rank, "world": self.replica.world}
        if self.settings.mode == "eager":
            cfg["note"] = ("eager: strategy.run runs eagerly, which TensorFlow warns has "
                           "significant overhead with this strategy; --mode compiled "
                           "wraps the step in tf.function")
        return cfg
