"""tf.distribute for zoo_core.training: MirroredStrategy (several devices of one machine) and
MultiWorkerMirroredStrategy (one process per machine, configured by TF_CONFIG).

The strategy must exist before TensorFlow runs any op and the model must be built in its scope; ``zoo train
--strategy ...`` does both. ``--batch-size`` is per replica: the global batch is batch_size x replicas. Each
epoch's order is the single-process one (same shuffle seed, same index-seeded augmentation), padded with its first
samples to a multiple of the replica count and dealt out strided, so every replica takes the same number of steps
and the union of the replicas' batches at step s is the single-process step-s batch; each replica's loader reads
only its own share. The loss is summed per
replica and divided by the global batch size; Keras' optimizer sums the gradients over replicas. Collectives time
out after $ZOO_DIST_TIMEOUT seconds, and the coordination service's heartbeats notice a dead worker, so the others
stop with a DistributedError instead of waiting forever. Only the chief (``strategy.extended.should_checkpoint``)
writes files; the zoo saves numpy values of the variables, which needs no collective, so the other workers write
nothing at all.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import DistributedError
from ..frameworks import import_keras, import_tensorflow
from .env import TIMEOUT_ENV, TFConfig, debug_record, timeout_seconds

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
        _bound_cluster_registration(cfg, timeout_seconds())
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds())
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except _PEER_ERRORS as exc:
            raise DistributedError(f"worker {cfg.task_type}:{cfg.task_index} could not join the cluster "
                                   f"{cfg.cluster} within {timeout_seconds():.0f} s ({type(exc).__name__}); start "
                                   f"every worker of TF_CONFIG (or wait longer: ${TIMEOUT_ENV})") from exc
    else:
        raise DistributedError(f"unknown strategy {kind!r}; use mirrored or multiworker")
    log.info("%s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy


def _bound_cluster_registration(cfg: TFConfig, timeout: float) -> None:
    """MultiWorkerMirroredStrategy configures TensorFlow's coordination service without a registration timeout,
    so a worker whose peers never start waits forever. Configure it first, exactly as the strategy would, plus
    that timeout (TensorFlow-internal API: skipped if it moved)."""
    try:
        from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
        from tensorflow.python.distribute import multi_worker_util
        from tensorflow.python.eager import context
    except ImportError:
        log.debug("TensorFlow's coordination service API moved; cluster registration is not time-bounded")
        return
    if context.context().coordination_service is not None or cfg.task_type not in ("chief", "worker"):
        return
    spec = tf.train.ClusterSpec(cfg.cluster)
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
            for job in ("chief", "worker") if job in spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=jobs, cluster_register_timeout_in_ms=int(timeout * 1000))
    config = context.context().coordination_service
    if "cluster_register_with_barrier" in type(config).DESCRIPTOR.fields_by_name:
        config.cluster_register_with_barrier = True  # registration itself waits for all, within that timeout


def from_scope(trainer: Any) -> TFDist | None:
    """The distributed context when the trainer is being built inside a strategy's scope, else None."""
    if not tf.distribute.has_strategy():
        return None
    return TFDist(tf.distribute.get_strategy(), trainer)


def pipeline_data(trainer: Any, epoch: int, ctx: Any) -> Any:
    """One input pipeline's dataset for ``epoch`` (``ctx``: a ``tf.distribute.InputContext``): a batch for each of
    its replicas in turn. Replica r reads only its share of the single-process order (the loader's
    ``shard=(r, replicas)``: positions r, r + replicas, ..., padded with the order's first samples), so no two
    workers read the same sample and every share has the same number of batches."""
    replicas, pipelines = ctx.num_replicas_in_sync, ctx.num_input_pipelines
    local = replicas // pipelines  # replicas fed by this pipeline
    first = ctx.input_pipeline_id * local
    shares = [trainer._epoch_data(epoch, shard=(first + j, replicas)) for j in range(local)]
    if local == 1:
        return shares[0]
    return tf.data.Dataset.choose_from_datasets(shares, tf.data.Dataset.range(local).repeat(),
                                                stop_on_empty_dataset=True)


class TFDist:
    """A Trainer's distributed step and data under a strategy."""

    def __init__(self, strategy: Any, trainer: Any):
        keras = import_keras()
        self.strategy, self.trainer = strategy, trainer
        self.replicas = int(strategy.num_replicas_in_sync)
        self.is_main = bool(strategy.extended.should_checkpoint)
        multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.kind = "multiworker" if multiworker else "mirrored" if isinstance(
            strategy, tf.distribute.MirroredStrategy) else type(strategy).__name__
        tf_cfg = TFConfig.from_env() if multiworker else None
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
                if y.dtype.is_floating:  # mixup/cutmix soft targets, label-smoothed already (zoo_core.data.mix)
                    per_example = ce(y, logits, from_logits=True)
                else:
                    per_example = ce(tf.one_hot(y, k), logits, from_logits=True, label_smoothing=smoothing)
                loss = tf.reduce_sum(per_example) / n_global  # summed over replicas: the global-batch mean
                scaled = opt.scale_loss(loss) if hasattr(opt, "scale_loss") else loss
            grads = tape.gradient(scaled, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))  # Keras all-reduces (sums) the gradients
            labels = tf.argmax(y, 1) if y.dtype.is_floating else y
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
            return tf.stack([tf.reduce_sum(per_example), correct, n_local])

        @tf.function(reduce_retracing=True)
        def step(x, y):
            sums = strategy.run(replica_step, args=(x, y))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)

        self._step = step
        self._sync = None
        debug_record(self.rank, world_size=self.world_size, replicas=self.replicas,
                     strategy=self.kind)

    def sync_statistics(self) -> None:
        """Give every replica replica 0's (the chief's) BatchNorm moving statistics: each replica updates its own
        copy from its own batches, so after an epoch they differ (the same rule as DDP's buffer broadcast)."""
        stats = [v for v in self.trainer.model.non_trainable_variables
                 if v.path.endswith(("moving_mean", "moving_variance"))]
        if not stats:
            return
        if self._sync is None:
            strategy = self.strategy

            def chief_values():
                first = tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0)
                return tuple(tf.where(first, v.value, tf.zeros_like(v.value)) for v in stats)

            @tf.function
            def gather():  # a sum in which only replica 0 contributes: exactly its values, everywhere
                return [strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None) for t in strategy.run(chief_values)]

            self._sync = gather
        try:
            values = self._sync()
        except _PEER_ERRORS as exc:
            raise self.lost(exc) from exc
        for v, value in zip(stats, values, strict=True):
            v.assign(value)

    def epoch_data(self, epoch: int) -> Any:
        """This worker's distributed dataset for one epoch: per-replica batches of ``cfg.batch_size``, each replica
        reading only its share (:func:`pipeline_data`)."""
        trainer = self.trainer
        return self._guarded(self.strategy.distribute_datasets_from_function(
            lambda ctx: pipeline_data(trainer, epoch, ctx)))

    def _guarded(self, dataset: Any):
        """Iterate a distributed dataset; a lost peer (its iterator runs a collective per step) becomes a
        DistributedError."""
        it = iter(dataset)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except _PEER_ERRORS as exc:
                raise self.lost(exc) from exc
            yield batch

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
        strategy = self.strategy

        @tf.function
        def gather(v):
            return strategy.gather(strategy.run(lambda: tf.reshape(v, (1,))), axis=0)

        try:
            values = gather(tf.constant(int(value), tf.int64)).numpy()
        except _PEER_ERRORS as exc:
            raise self.lost(exc) from exc
        return bool((values == int(value)).all())
