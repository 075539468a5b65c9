"""``convert(torch_model, input_size)``: a trainable Keras 3 model with the torch model's weights, parity checked."""

from __future__ import annotations

import importlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConversionError
from ..frameworks import import_torch
from . import trace, verify

log = logging.getLogger("zoo.torch2keras")

GRAPH_NAME = "keras_graph.json"


@dataclass
class Conversion:
    """The result of a conversion: the Keras model, its stored graph and what was measured."""

    model: Any
    graph: str  # Keras config JSON (safe-mode loadable)
    parity: verify.Parity
    seconds: float
    dynamic: dict[str, bool]
    transposes: int

    def report(self) -> dict[str, Any]:
        return {"parity": self.parity.as_dict(), "seconds": round(self.seconds, 2), "dynamic": self.dynamic,
                "transposes": self.transposes}


def convert(model: Any, input_size: tuple[int, int], in_chans: int = 3, *, check: bool = True,
            batch: int = 2, seed: int = 0, dynamic: bool | str | None = None) -> Conversion:
    """Trace ``model`` (eval mode) at ``input_size`` and emit the Keras model, with the torch model's weights.

    With ``check`` the logits of both are compared on BatchNorm-calibrated random weights; beyond ``verify.RTOL``
    relative a ``ConversionError`` names the first op and module whose output diverges. ``dynamic``: which input
    sizes stay symbolic (``trace.export``'s argument; by default ``trace.dynamic_for(model)``): ``"batch"`` skips
    the symbolic height and width, whose size expressions cost torch.export tens of seconds in some models.
    """
    torch = import_torch()
    start = time.perf_counter()
    h, w = input_size
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, in_chans, h, w)).astype(np.float32)
    program = trace.export(model, torch.from_numpy(x), dynamic=trace.dynamic_for(model) if dynamic is None else dynamic)
    emit = importlib.import_module(f"{__package__}.emit")  # imports Keras, after torch
    try:
        keras_model, steps = emit.Emitter(program, x.shape, shared_names(model, program)).build()
    except ConversionError as first:
        # symbolic height/width that only some sizes satisfy (a flatten before a Linear) leave a Keras layer
        # without a static input dimension: trace again with only the batch symbolic
        try:
            program = trace.export(model, torch.from_numpy(x), dynamic="batch")
            keras_model, steps = emit.Emitter(program, x.shape, shared_names(model, program)).build()
        except ConversionError:
            raise first from None
    transposes = sum(1 for layer in keras_model.layers if getattr(layer, "fn", None) == "transpose")
    user = next(s for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT")
    node = next(n for n in program.graph.nodes if n.name == user.arg.name)
    dims = [not isinstance(s, int) for s in node.meta["val"].shape]
    dynamic = {"batch": dims[0], "height": dims[2], "width": dims[3]}
    parity = verify.Parity(float("nan"), float("nan"), float("nan"), list(x.shape), "unchecked")
    if check:
        calibrated = verify.calibrated(model, torch.from_numpy(x), seed)
        verify.load_into_keras(keras_model, verify.state_numpy(calibrated))
        parity = verify.compare(calibrated, keras_model, x, "batchnorm-calibrated random")
        if not parity.ok:
            where = verify.first_divergence(program, keras_model, steps, x, calibrated.state_dict())
            raise ConversionError(f"converted {type(model).__name__} differs from torch: logits {parity.max_rel:.2g} "
                                  f"relative (limit {verify.RTOL:g}); first divergence: {where}")
    verify.load_into_keras(keras_model, verify.state_numpy(model))
    keras = importlib.import_module(f"{__package__}.layers").keras
    graph = json.dumps(keras.saving.serialize_keras_object(keras_model))
    seconds = time.perf_counter() - start
    log.info("converted %s to Keras in %.1f s (%d layers, %d transposes, parity %.2g relative)",
             type(model).__name__, seconds, len(keras_model.layers), transposes, parity.max_rel)
    return Conversion(keras_model, graph, parity, seconds, dynamic, transposes)


def shared_names(model: Any, program: Any) -> dict[str, str]:
    """The other checkpoint names of tensors the model holds under several module paths (one tensor, two names in
    its state_dict; the program may use either or both): {other name: the first name the program uses}."""
    traced = {spec.target for spec in program.graph_signature.input_specs if spec.target}
    names: dict[int, list[str]] = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        names.setdefault(id(tensor), []).append(key)
    aliases = {}
    for keys in names.values():
        primary = next((k for k in keys if k in traced), None)
        aliases.update({k: primary for k in keys if primary is not None and k != primary})
    return aliases


def from_graph(graph: str) -> Any:
    """The Keras model of a stored graph (Keras config JSON), loaded in safe mode (no Lambda, no code); the
    weights are Keras' initial values until a checkpoint is loaded into it."""
    keras = importlib.import_module(f"{__package__}.layers").keras
    try:
        return keras.saving.deserialize_keras_object(json.loads(graph), safe_mode=True)
    except Exception as exc:
        raise ConversionError(f"the stored Keras graph does not load: {type(exc).__name__}: {exc}") from None
