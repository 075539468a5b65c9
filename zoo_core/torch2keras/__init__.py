"""PyTorch -> Keras 3: trace a torch model with ``torch.export`` and emit a native, trainable Keras functional model.

- ``trace.py``: export in eval mode, decompose to core ATen (conv2d, linear, layer_norm kept whole);
- ``layout.py``: which torch dimension each Keras axis holds (NHWC flows through, permutes cost nothing);
- ``ops.py``/``layers.py``: the zoo's serialisable Keras layers (keras.ops only, no Lambda);
- ``emit.py``: the graph walk, real Conv/Dense/BatchNorm/LayerNorm layers named after the torch modules;
- ``verify.py``: parity at conversion on BatchNorm-calibrated weights, node-by-node divergence on failure;
- ``timm_models.py``: ``timm:NAME`` models in both frameworks, the stored graph.

Importing this package imports no framework.
"""

from __future__ import annotations
