"""Freezing by architecture stage, the same for torch and Keras models.

Stages are fnmatch patterns over canonical tensor names; the last stage is the head and is never frozen by
``until``. Frozen BatchNorm layers keep their running statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from .. import backends, models
from ..errors import StageError

FROZEN_ATTR = "zoo_frozen_stages"


def _architecture(model: Any):
    return models.get_architecture(models.spec_of(model).entry)


def stage_of(arch: Any, key: str) -> str | None:
    """The stage a canonical tensor name belongs to (first matching stage), or None."""
    for stage in arch.stages:
        if any(fnmatchcase(key, pat) for pat in arch.stage_patterns.get(stage, ())):
            return stage
    return None


def _check_stage(arch: Any, stage: str) -> None:
    if stage not in arch.stages:
        raise StageError(f"unknown stage {stage!r} of architecture {arch.name!r}; "
                         f"its stages are: {', '.join(arch.stages)}")


def _apply(model: Any, frozen: Sequence[str]) -> None:
    arch = _architecture(model)
    frozen_set = set(frozen)
    backends.of(model).set_frozen(model, lambda key: stage_of(arch, key) in frozen_set)
    setattr(model, FROZEN_ATTR, tuple(s for s in arch.stages if s in frozen_set))


def freeze(model: Any, until: str | None = None, stages: Sequence[str] | None = None) -> list[str]:
    """Freeze stages: ``until=STAGE`` freezes every stage up to and including STAGE (never the head);
    ``stages=[...]`` freezes exactly those (added to the already frozen ones). Frozen BatchNorm layers keep
    their running statistics. Returns the frozen stages."""
    arch = _architecture(model)
    if (until is None) == (stages is None):
        raise StageError(f"give freeze() either until=STAGE or stages=[...]; stages: {', '.join(arch.stages)}")
    current = set(getattr(model, FROZEN_ATTR, ()))
    if until is not None:
        _check_stage(arch, until)
        if until == arch.head:
            raise StageError(f"until={until!r} would freeze the head; freeze up to one of: "
                             f"{', '.join(arch.stages[:-1]) or '(none: the head is the only stage)'}")
        current |= set(arch.stages[:arch.stages.index(until) + 1])
    else:
        for s in stages:
            _check_stage(arch, s)
        current |= set(stages)
    _apply(model, sorted(current))
    return list(getattr(model, FROZEN_ATTR))


def unfreeze(model: Any, stages: Sequence[str] | None = None) -> list[str]:
    """Make stages trainable again (all when ``stages`` is None); returns the stages still frozen."""
    arch = _architecture(model)
    current = set(getattr(model, FROZEN_ATTR, ()))
    if stages is None:
        current = set()
    else:
        for s in stages:
            _check_stage(arch, s)
        current -= set(stages)
    _apply(model, sorted(current))
    return list(getattr(model, FROZEN_ATTR))


def trainable_summary(model: Any) -> list[tuple[str, int, bool]]:
    """(stage, learnable parameter count, trainable) per stage, input to output; tensors no stage pattern matches
    are reported as stage ``"(other)"``."""
    arch = _architecture(model)
    counts: dict[str, list[int]] = {}
    for key, numel, trainable in backends.of(model).parameters(model):
        stage = stage_of(arch, key) or "(other)"
        c = counts.setdefault(stage, [0, 0])
        c[0] += numel
        c[1] += numel if trainable else 0
    rows = []
    for stage in (*arch.stages, "(other)"):
        if stage == "(other)" and stage not in counts:
            continue
        total, trainable = counts.get(stage, [0, 0])
        rows.append((stage, total, trainable == total and stage not in getattr(model, FROZEN_ATTR, ())))
    return rows
