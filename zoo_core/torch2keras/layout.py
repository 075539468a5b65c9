"""Layouts: a Keras tensor holds a torch tensor with its dimensions permuted.

A layout is a tuple ``perm``: Keras axis ``j`` holds torch dimension ``perm[j]`` (``keras = torch.permute(perm)``).
NCHW images flow through the graph as NHWC (``(0, 2, 3, 1)``); a torch ``permute`` only changes the layout, no op
is emitted; a reshape runs in the current layout whenever the dimensions it merges or splits are adjacent there.
Only ops that need torch's memory order (a reshape across axes the layout separates) pay a transpose.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Sequence
from typing import Any

Perm = tuple[int, ...]

NHWC: Perm = (0, 2, 3, 1)


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def transpose_axes(cur: Perm, want: Perm) -> tuple[int, ...] | None:
    """Keras axes to transpose a tensor in layout ``cur`` into layout ``want``; None when nothing moves."""
    axes = tuple(cur.index(d) for d in want)
    return None if axes == identity(len(axes)) else axes


def axis(perm: Perm, dim: int) -> int:
    """The Keras axis holding torch dimension ``dim`` (negative dims count from the end)."""
    return perm.index(dim % len(perm))


def after_permute(perm: Perm, dims: Sequence[int]) -> Perm:
    """Layout of ``x.permute(dims)`` when x has layout ``perm``: the same Keras tensor, renumbered."""
    n = len(perm)
    dims = [d % n for d in dims]
    return tuple(dims.index(d) for d in perm)


def after_reduce(perm: Perm, dims: Sequence[int], keepdim: bool) -> Perm:
    """Layout after reducing torch ``dims`` (removed unless ``keepdim``)."""
    if keepdim:
        return perm
    n = len(perm)
    gone = {d % n for d in dims}
    kept = [d for d in perm if d not in gone]
    return tuple(sum(1 for k in kept if k < d) for d in kept)


def after_insert(perm: Perm, dim: int) -> Perm:
    """Layout after ``unsqueeze(dim)`` when the new axis is appended last in Keras order."""
    return tuple(p + (p >= dim) for p in perm) + (dim,)


def reshape_groups(src: Sequence[int], dst: Sequence[int]) -> list[tuple[list[int], list[int]]] | None:
    """Split a reshape into groups (source dims, destination dims) with equal products, both runs contiguous.

    None when the sizes do not match.
    """
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(src) or j < len(dst):
        gs: list[int] = []
        gd: list[int] = []
        ps = pd = 1
        if i < len(src):
            gs.append(i)
            ps *= src[i]
            i += 1
        if j < len(dst):
            gd.append(j)
            pd *= dst[j]
            j += 1
        while ps != pd:
            if ps < pd and i < len(src):
                gs.append(i)
                ps *= src[i]
                i += 1
            elif pd < ps and j < len(dst):
                gd.append(j)
                pd *= dst[j]
                j += 1
            else:
                return None
        groups.append((gs, gd))
    return groups


def plan_reshape(perm: Perm, src: Sequence[int], dst: Sequence[int]) -> tuple[list[int], Perm] | None:
    """Reshape a tensor in layout ``perm`` without a transpose, if possible.

    Returns (the destination torch dims in Keras order, the output layout), or None when the reshape merges or splits
    dimensions that are not adjacent, in the same order, in the Keras layout.
    """
    if perm == identity(len(perm)):
        return list(range(len(dst))), identity(len(dst))
    groups = reshape_groups(src, dst)
    if groups is None:
        return None
    # the groups' source dims must each be a contiguous increasing run of Keras axes
    order: list[tuple[int, list[int]]] = []
    for gs, gd in groups:
        if not gs:
            order.append((-1, gd))  # pure size-1 insertions: place them anywhere, at the end
            continue
        pos = [perm.index(d) for d in gs]
        if pos != list(range(pos[0], pos[0] + len(pos))):
            return None
        order.append((pos[0], gd))
    placed = sorted((p for p in order if p[0] >= 0), key=lambda t: t[0]) + [p for p in order if p[0] < 0]
    keras_dims = [d for _, gd in placed for d in gd]
    out_perm = tuple(keras_dims)
    return keras_dims, out_perm


_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
        ast.Mod: operator.mod}


def eval_size(expr: str, env: dict[str, Any]) -> Any:
    """Evaluate an integer size expression (names, ints, + - * // %) without eval()."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            return _BIN[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise ValueError(f"unsupported size expression {expr!r}")

    return walk(ast.parse(expr, mode="eval"))
