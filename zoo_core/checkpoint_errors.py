"""Error messages shared by both frameworks when weights do not fit a model."""

from __future__ import annotations

from .errors import CheckpointError


def key_mismatch(missing: list[str], unexpected: list[str]) -> CheckpointError:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    return CheckpointError(
        "the checkpoint's tensors do not match the model: " + "; ".join(parts)
        + ". Check that the architecture and config match, or pass strict=False to load what fits and report the rest"
    )


def shape_mismatch(key: str, got: tuple, expected: tuple) -> CheckpointError:
    hint = ""
    if got and expected and len(got) == len(expected) and got[1:] == expected[1:] and got[0] != expected[0]:
        hint = (f"; the output size differs ({got[0]} vs {expected[0]}): if this is the classifier, the checkpoint "
                f"has {got[0]} classes; pass num_classes={expected[0]} to re-initialise only the head")
    elif len(got) == 4 and len(expected) == 4 and got[1] != expected[1]:
        hint = f"; the input channels differ ({got[1]} vs {expected[1]}): check in_chans"
    return CheckpointError(f"tensor {key!r} has shape {got} in the checkpoint but {expected} in the model{hint}")
