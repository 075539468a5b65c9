"""Distributed training: who this process is and the ``--nproc`` launcher (``env``, framework-free), and the
engines (``engines.engine(fw)``), each imported with its framework: ``torch_ddp`` (DistributedDataParallel under
torchrun) and ``tf_strategy`` (tf.distribute). See docs/distributed.md."""
