"""SavedModel for TF Serving: a Keras ``ExportArchive`` whose ``serving_default`` signature takes
``pixel_values`` (NHWC float32, any batch) and returns ``{"logits": ...}``; the zoo metadata is stored as
``assets.extra/zoo_config.json`` (TF Serving ignores files there)."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..frameworks import import_keras, import_tensorflow
from .report import ExportError, Runner
from .source import Source

EXPORTER = "keras.export.ExportArchive (tf.saved_model)"
META_FILE = Path("assets.extra") / "zoo_config.json"


def write(source: Source, path: Path) -> dict[str, Any]:
    """Write the SavedModel directory ``path`` (which must not exist yet)."""
    tf = import_tensorflow()
    keras = import_keras()
    model = source.model
    meta = source.metadata()
    h, w = source.entry.input_size
    spec = tf.TensorSpec((None, h, w, source.entry.in_chans), tf.float32, name=meta["input_name"])

    def serve(pixel_values):
        return {meta["output_name"]: model(pixel_values, training=False)}

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.add_endpoint("serve", serve, input_signature=[spec])
            archive.write_out(str(path), verbose=False)
    except Exception as exc:
        raise ExportError(f"cannot export to savedmodel: {str(exc).splitlines()[0]}") from None
    (path / META_FILE).parent.mkdir(parents=True, exist_ok=True)
    (path / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return {"exporter": EXPORTER}


def runner(path: Path) -> Runner:
    """Run the ``serving_default`` signature of ``tf.saved_model.load``, as TF Serving would."""
    tf = import_tensorflow()
    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures["serving_default"]
    (name,) = fn.structured_input_signature[1].keys()
    (out,) = fn.structured_outputs.keys()

    def run(x: np.ndarray) -> np.ndarray:
        return fn(**{name: tf.constant(np.ascontiguousarray(x, np.float32))})[out].numpy()

    run.loaded = loaded  # keep the object (and its variables) alive as long as the runner
    return run


def read_metadata(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / META_FILE).read_text())
