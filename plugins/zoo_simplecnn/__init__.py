"""SimpleCNN: conv-BN-ReLU-pool blocks and a two-layer head, as in the classic MNIST/CIFAR tutorials.

Config: ``widths`` (channels per block, default [32, 64]) and ``hidden`` (units of the first dense layer).
"""

from __future__ import annotations

from pathlib import Path

import zoo_core


@zoo_core.hookimpl
def register_architectures(register):
    stages = ("stage1", "stage2", "stage3", "head")
    register(
        zoo_core.Architecture(
            name="simplecnn",
            builders={"torch": "zoo_simplecnn.torch_model:build", "tf": "zoo_simplecnn.keras_model:build"},
            stages=stages,
            stage_patterns={
                "stage1": ("blocks.0.*",),
                "stage2": ("blocks.1.*",),
                "stage3": ("blocks.2.*",),
                "head": ("fc1.*", "fc2.*"),
            },
            description="Small conv net for MNIST/CIFAR-sized images",
        )
    )


@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("registry.yaml")]
