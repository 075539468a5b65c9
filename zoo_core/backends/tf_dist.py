"""tf.distribute for zoo_core.training: MirroredStrategy (several devices of one machine) and
MultiWorkerMirroredStrategy (one process per machine, configured by TF_CONFIG).

The strategy must exist before TensorFlow runs any op and the model must be built in its scope; ``zoo train
--strategy ...`` does both. ``--batch-size`` is per replica: the global batch is batch_size x replicas. Each
epoch's order is the single-process one (same shuffle seed, same index-seeded augmentation), padded with its first
samples to a multiple of the replica count and dealt out strided, so every replica takes the same number of steps
and the union of the replicas' batches at step s is the single-process step-s batch. The loss is summed per
replica and divided by the global batch size; Keras' optimizer sums the gradients over replicas. Collectives time
out after $ZOO_DIST_TIMEOUT seconds, and the coordination service's heartbeats notice a dead worker, so the others
stop with a DistributedError instead of waiting forever. Only the chief (``strategy.extended.should_checkpoint``)
writes files; the zoo saves numpy values of the variables, which needs no collective, so the other workers write
nothing at all.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ..distributed import DistributedError, TFConfig, debug_record, timeout_seconds
from .tf_backend import import_keras, import_tensorflow

log = logging.getLogger("zoo.tf.dist")
tf = import_tensorflow()

# What a lost peer looks like to a collective op.
_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
                tf.errors.CancelledError)


def create(kind: str) -> Any:
    """The strategy for ``--strategy`` ``mirrored`` or ``multiworker``. Call before any other TensorFlow op."""
    if kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif kind == "multiworker":
        cfg = TFConfig.from_env()
        if cfg is None:
            raise DistributedError('--strategy multiworker needs TF_CONFIG in every worker\'s environment, e.g. '
                                   'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                                   '"task": {"type": "worker", "index": 0}}\' (see docs/distributed.md)')
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds())
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except _PEER_ERRORS as exc:
            raise DistributedError(f"worker {cfg.task_type}:{cfg.task_index} could not join the cluster "
                                   f"{cfg.cluster} ({type(exc).__name__}); start every worker of TF_CONFIG") from exc
    else:
        raise DistributedError(f"unknown strategy {kind!r}; use mirrored or multiworker")
    log.info("%s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy


def from_scope(trainer: Any) -> TFDist | None:
    """The distributed context when the trainer is being built inside a strategy's scope, else None."""
    if not tf.distribute.has_strategy():
        return None
    return TFDist(tf.distribute.get_strategy(), trainer)


class TFDist:
    """A Trainer's distributed step and data under a strategy."""

    def __init__(self, strategy: Any, trainer: Any):
        keras = import_keras()
        self.strategy, self.trainer = strategy, trainer
        self.replicas = int(strategy.num_replicas_in_sync)
        self.is_main = bool(strategy.extended.should_checkpoint)
        tf_cfg = TFConfig.from_env() if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) else None
        self.rank = tf_cfg.rank if tf_cfg is not None else 0
        self.world_size = tf_cfg.num_workers if tf_cfg is not None else 1
        for v in trainer.model.variables:
            if not strategy.extended.variable_created_in_scope(v.value if hasattr(v, "value") else v):
                raise DistributedError(f"the model's variable {v.path} was not created in the strategy's scope; "
                                       "build the model inside `with strategy.scope():`")
        model, variables, opt = trainer.model, trainer.vars, trainer.opt
        k, smoothing = trainer.data.num_classes, float(trainer.cfg.label_smoothing)
        ce = keras.losses.categorical_crossentropy

        def replica_step(x, y):
            n_local = tf.cast(tf.shape(y)[0], tf.float32)
            n_global = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, n_local)
            with tf.GradientTape() as tape:
                logits = tf.cast(model(x, training=True), tf.float32)
                per_example = ce(tf.one_hot(y, k), logits, from_logits=True, label_smoothing=smoothing)
                loss = tf.reduce_sum(per_example) / n_global  # summed over replicas: the global-batch mean
                scaled = opt.scale_loss(loss) if hasattr(opt, "scale_loss") else loss
            grads = tape.gradient(scaled, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))  # Keras all-reduces (sums) the gradients
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))
            return tf.stack([tf.reduce_sum(per_example), correct, n_local])

        @tf.function(reduce_retracing=True)
        def step(x, y):
            sums = strategy.run(replica_step, args=(x, y))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)

        self._step = step
        debug_record(self.rank, world_size=self.world_size, replicas=self.replicas,
                     strategy=type(strategy).__name__)

    def epoch_data(self, epoch: int) -> Any:
        """This worker's distributed dataset for one epoch: per-replica batches of ``cfg.batch_size``."""
        trainer, b = self.trainer, int(self.trainer.cfg.batch_size)
        n = len(trainer.data.train)

        def dataset_fn(ctx):
            replicas, pipelines = ctx.num_replicas_in_sync, ctx.num_input_pipelines
            local = replicas // pipelines  # replicas fed by this worker's pipeline
            lo = ctx.input_pipeline_id * local
            total = math.ceil(n / replicas) * replicas
            ds = trainer._epoch_data(epoch).unbatch()  # the single-process order (and augmentation)
            ds = ds.repeat().take(total)  # padded with the order's first samples
            ds = ds.batch(replicas, drop_remainder=True)  # row u: positions u*R .. u*R + R-1, one per replica
            ds = ds.map(lambda x, y: (x[lo:lo + local], y[lo:lo + local]))
            ds = ds.batch(b)  # (b, local, ...): b rows of this pipeline's replicas
            perm = (1, 0)
            ds = ds.map(lambda x, y: (tf.transpose(x, perm + tuple(range(2, len(x.shape)))), tf.transpose(y, perm)))
            return ds.unbatch().prefetch(tf.data.AUTOTUNE)  # one batch per local replica, in replica order

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def step(self, x: Any, y: Any) -> tuple[float, int, int]:
        """One optimisation step on a distributed batch: (mean loss, correct, images) of the global batch."""
        try:
            loss_sum, correct, n = self._step(x, y).numpy().tolist()
        except _PEER_ERRORS as exc:
            raise self.lost(exc) from exc
        return loss_sum / max(n, 1), int(correct), int(n)

    def lost(self, exc: BaseException) -> DistributedError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return DistributedError(f"worker {self.rank} of {self.world_size} lost the other workers "
                                f"({type(exc).__name__}: {first[:300]}); the last complete epoch's checkpoint is "
                                "intact: restart every worker with --resume")

    def same_on_all_ranks(self, value: int) -> bool:
        """True when every replica of every worker passed the same integer."""
        try:
            per_replica = self.strategy.run(lambda: tf.constant([int(value)], tf.int64))
            values = self.strategy.gather(per_replica, axis=0).numpy()
        except _PEER_ERRORS as exc:
            raise self.lost(exc) from exc
        return bool((values == int(value)).all())
