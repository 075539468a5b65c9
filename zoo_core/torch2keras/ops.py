"""The ops a converted graph runs, written with keras.ops: a fixed table of named functions (never code from a file).

Each function takes the op's input tensors and its JSON attributes. Shapes may hold symbolic sizes (strings such
as ``"s77*3"``) evaluated at run time from the model input (``ref``, the last input) with ``syms`` naming the input
axis of each symbol. Import this module only where Keras may be imported.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from ..frameworks import import_keras
from .layout import eval_size as _eval

keras = import_keras()
ops = keras.ops

def dims(shape: list, attrs: dict, xs: list) -> list:
    """A shape with its symbolic entries evaluated against the model input (the last input)."""
    if not any(isinstance(s, str) for s in shape):
        return list(shape)
    ref_shape = ops.shape(xs[-1])
    env = {name: ref_shape[ax] for name, ax in attrs["syms"].items()}
    return [_eval(s, env) if isinstance(s, str) else s for s in shape]


def _scalar(v: Any) -> Any:
    if isinstance(v, dict):  # {"float": "inf"} for values JSON cannot hold
        return float(v["float"])
    return v


def _operands(xs: list, a: dict) -> list:
    """The op's operands: tensors in order, with the scalars from ``a["scalars"]`` ({position: value}) placed."""
    out = list(xs[: a.get("ntensors", len(xs))])
    for pos, value in sorted(a.get("scalars", {}).items(), key=lambda t: int(t[0])):
        out.insert(int(pos), _scalar(value))
    return out


def _binary(fn: Callable) -> Callable:
    def run(xs: list, a: dict) -> Any:
        x, y = _operands(xs, a)
        if "alpha" in a:
            y = y * a["alpha"]
        return fn(x, y)

    return run


def _unary(fn: Callable) -> Callable:
    return lambda xs, a: fn(xs[0])


def _gelu(xs: list, a: dict) -> Any:
    x = xs[0]
    if a.get("approximate") == "tanh":
        return 0.5 * x * (1.0 + ops.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
    return x * 0.5 * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0))))


def _clamp(xs: list, a: dict) -> Any:
    x = xs[0]
    if a.get("min") is not None:
        x = ops.maximum(x, _scalar(a["min"]))
    if a.get("max") is not None:
        x = ops.minimum(x, _scalar(a["max"]))
    return x


def _transpose(xs: list, a: dict) -> Any:
    return ops.transpose(xs[0], a["axes"])


def _reshape(xs: list, a: dict) -> Any:
    return ops.reshape(xs[0], dims(a["shape"], a, xs))


def _broadcast(xs: list, a: dict) -> Any:
    return ops.broadcast_to(xs[0], dims(a["shape"], a, xs))


def _expand_dims(xs: list, a: dict) -> Any:
    x = xs[0]
    for ax in a["axes"]:
        x = ops.expand_dims(x, ax)
    return x


def _squeeze(xs: list, a: dict) -> Any:
    return ops.squeeze(xs[0], axis=tuple(a["axes"])) if a["axes"] else xs[0]


def _reduce(fn: Callable) -> Callable:
    return lambda xs, a: fn(xs[0], axis=tuple(a["axes"]), keepdims=a["keepdims"])


def _var(xs: list, a: dict) -> Any:
    x = xs[0]
    mean = ops.mean(x, axis=tuple(a["axes"]), keepdims=True)
    sq = ops.sum(ops.square(x - mean), axis=tuple(a["axes"]), keepdims=a["keepdims"])
    n = 1
    shape = ops.shape(x)
    for ax in a["axes"]:
        n = n * shape[ax]
    return sq / ops.cast(n - a.get("correction", 0), x.dtype)


def _slice(xs: list, a: dict) -> Any:
    x = xs[0]
    start, end = dims([a["start"], a["end"]], a, xs)
    if isinstance(end, int) and end >= 2**31 - 1:  # torch's "to the end" (2**62 here) would wrap in int32 (TFLite)
        end = None
    idx = [slice(None)] * len(x.shape)
    idx[a["axis"]] = slice(start, end, a["step"])
    return x[tuple(idx)]


def _select(xs: list, a: dict) -> Any:
    idx: list[Any] = [slice(None)] * len(xs[0].shape)
    idx[a["axis"]] = a["index"]
    return xs[0][tuple(idx)]


def _concat(xs: list, a: dict) -> Any:
    return ops.concatenate(list(xs[: a["ntensors"]]), axis=a["axis"])


def _softmax(xs: list, a: dict) -> Any:
    return ops.softmax(xs[0], axis=a["axis"])


def _log_softmax(xs: list, a: dict) -> Any:
    return ops.log_softmax(xs[0], axis=a["axis"])


def _einsum(xs: list, a: dict) -> Any:
    out = ops.einsum(a["equation"], xs[0], xs[1])
    if a.get("beta_bias"):
        out = out + xs[2]
    return out


def _attention(xs: list, a: dict) -> Any:
    """``scaled_dot_product_attention`` as two einsums in the operands' own layouts (no transposes in the graph):
    scores ``a["qk"]`` scaled, an optional boolean or additive mask, a causal mask, softmax, then ``a["pv"]``."""
    q, k, v = xs[:3]
    scores = ops.einsum(a["qk"], q, k) * a["scale"]
    if a.get("mask") == "bool":
        scores = ops.where(xs[3], scores, ops.cast(-math.inf, scores.dtype))
    elif a.get("mask") == "float":
        scores = scores + xs[3]
    if a.get("causal"):
        n_q, n_k = ops.shape(scores)[-2], ops.shape(scores)[-1]
        keep = ops.expand_dims(ops.arange(n_q), -1) >= ops.expand_dims(ops.arange(n_k), 0)
        scores = ops.where(keep, scores, ops.cast(-math.inf, scores.dtype))
    return ops.einsum(a["pv"], ops.softmax(scores, axis=-1), v)


def _fixed_conv(xs: list, a: dict) -> Any:
    """A convolution of NHWC ``x`` (already padded) by a kernel given as a tensor in Keras layout: a graph constant
    or computed from parameters; an optional bias."""
    x, kernel = xs[0], ops.cast(xs[1], xs[0].dtype)
    conv = ops.depthwise_conv if a["depthwise"] else ops.conv
    out = conv(x, kernel, strides=tuple(a["stride"]), padding="valid", dilation_rate=tuple(a["dilation"]))
    return out + xs[2] if len(xs) > 2 else out


def _cumsum(xs: list, a: dict) -> Any:
    return ops.cumsum(ops.cast(xs[0], a["dtype"]), axis=a["axis"])


def _trunc(q: Any) -> Any:
    """Rounding toward zero."""
    return ops.sign(q) * ops.floor(ops.abs(q))


def _round_div(xs: list, a: dict) -> Any:
    """A quotient rounded as torch's ``rounding_mode`` (floor, or trunc: toward zero), cast to the output dtype."""
    q = ops.cast(xs[0], "float32") if "int" in str(xs[0].dtype) else xs[0]
    q = ops.floor(q) if a["mode"] == "floor" else _trunc(q)
    return ops.cast(q, a["dtype"])


def _fmod(x: Any, y: Any) -> Any:
    """C's fmod (the remainder of a truncated division: the dividend's sign), for floats and integers."""
    integer = "int" in str(x.dtype)
    xf = ops.cast(x, "float32") if integer else x
    r = xf - _trunc(xf / y) * y
    return ops.cast(r, x.dtype) if integer else r


def _batch_stats_norm(xs: list, a: dict) -> Any:
    """Normalise over every axis but ``a["axis"]`` with the tensor's own (biased) statistics, then scale/shift."""
    x, axis = xs[0], a["axis"] % len(xs[0].shape)
    axes = [i for i in range(len(x.shape)) if i != axis]
    mean = ops.mean(x, axis=axes, keepdims=True)
    var = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
    out = (x - mean) * ops.rsqrt(var + a["eps"])
    shape = [1] * len(x.shape)
    shape[axis] = -1
    rest = list(xs[1:])
    if a.get("weight"):
        out = out * ops.reshape(rest.pop(0), shape)
    if a.get("bias"):
        out = out + ops.reshape(rest.pop(0), shape)
    return out


def _resize_matrices(xs: list, a: dict) -> Any:
    """Resize or pool NHWC ``x`` by an (out_h, h) and an (out_w, w) matrix (bicubic, adaptive pooling)."""
    x = xs[0]
    return ops.einsum("nhwc,ph,qw->npqc", x, ops.cast(xs[1], x.dtype), ops.cast(xs[2], x.dtype))


def _pad_spatial(x: Any, pads: list, value: float) -> Any:
    """Pad NHWC ``x`` by ``pads`` = [top, bottom, left, right] (ints, or run-time sizes)."""
    if all(isinstance(p, int) for p in pads) and not any(pads):
        return x
    return ops.pad(x, [[0, 0], pads[:2], pads[2:], [0, 0]], constant_values=value)


def _runtime_pads(x: Any, a: dict) -> list:
    """Pool padding [top, bottom, left, right]; with ``ceil`` torch's ceil_mode extra bottom/right padding is
    computed from the run-time size (so any input size works)."""
    if not a.get("ceil"):
        return a["pads"]
    pads = list(a["pads"])
    shape = ops.shape(x)
    for i in range(2):
        size, k, s, p = shape[1 + i], a["kernel"][i], a["stride"][i], a["pads"][2 * i]
        n = size + 2 * p - k
        out = (n + s - 1) // s + 1
        out = ops.where((out - 1) * s >= size + p, out - 1, out)
        pads[2 * i + 1] = p + ops.maximum((out - 1) * s + k - (size + 2 * p), 0)
    return pads


def _max_pool(xs: list, a: dict) -> Any:
    x = _pad_spatial(xs[0], _runtime_pads(xs[0], a), -math.inf)
    return ops.max_pool(x, a["kernel"], a["stride"], padding="valid")


def _avg_pool(xs: list, a: dict) -> Any:
    x = xs[0]
    pads = _runtime_pads(x, a)
    if not a.get("ceil") and not any(pads):
        return ops.average_pool(x, a["kernel"], a["stride"], padding="valid")
    total = ops.average_pool(_pad_spatial(x, pads, 0.0), a["kernel"], a["stride"], padding="valid")
    if a["count_include_pad"]:
        # torch counts the symmetric padding but not the extra ceil_mode padding
        sym = a["sym_pads"]
        ones = _pad_spatial(ops.ones_like(x[:1, :, :, :1]), sym, 1.0)
        ones = _pad_spatial(ones, [p - s for p, s in zip(pads, sym, strict=True)], 0.0)
    else:
        ones = _pad_spatial(ops.ones_like(x[:1, :, :, :1]), pads, 0.0)
    frac = ops.average_pool(ones, a["kernel"], a["stride"], padding="valid")
    kh, kw = a["kernel"]
    return total / frac if not a["count_include_pad"] else total * (kh * kw) / (frac * (kh * kw))


def _pad(xs: list, a: dict) -> Any:
    return ops.pad(xs[0], a["pads"], constant_values=_scalar(a.get("value", 0.0)))


def _resize_nearest(xs: list, a: dict) -> Any:
    x = xs[0]
    fh, fw = a["factor"]
    if fh > 1:
        x = ops.repeat(x, fh, axis=1)
    if fw > 1:
        x = ops.repeat(x, fw, axis=2)
    return x


def _resize_bilinear(xs: list, a: dict) -> Any:
    if a.get("align_corners"):
        raise ValueError("bilinear upsampling with align_corners=True is not supported")
    return ops.image.resize(xs[0], a["size"], interpolation="bilinear", antialias=False,
                            data_format="channels_last")


def _where(xs: list, a: dict) -> Any:
    c, x, y = _operands(xs, a)
    return ops.where(c, x, y)


def _full_like(xs: list, a: dict) -> Any:
    return ops.full_like(xs[0], _scalar(a["value"]))


def _full(xs: list, a: dict) -> Any:
    return ops.full(dims(a["shape"], a, xs), _scalar(a["value"]), dtype=a.get("dtype", "float32"))


def _cast(xs: list, a: dict) -> Any:
    return ops.cast(xs[0], a["dtype"])


def _take(xs: list, a: dict) -> Any:
    return ops.take(xs[0], ops.cast(xs[1], "int32"), axis=a["axis"])


def _hardswish(xs: list, a: dict) -> Any:
    return xs[0] * ops.clip(xs[0] + 3.0, 0.0, 6.0) / 6.0


def _hardsigmoid(xs: list, a: dict) -> Any:
    return ops.clip(xs[0] + 3.0, 0.0, 6.0) / 6.0


def _leaky_relu(xs: list, a: dict) -> Any:
    return ops.where(xs[0] >= 0, xs[0], xs[0] * a["slope"])


def _pow(xs: list, a: dict) -> Any:
    x, y = _operands(xs, a)
    return ops.power(x, y)


def _group_norm(xs: list, a: dict) -> Any:
    # NHWC (or any layout with channels at a["axis"]), groups of channels normalised together, no affine
    x = xs[0]
    ax = a["axis"] % len(x.shape)
    g = a["groups"]
    moved = ops.moveaxis(x, ax, -1) if ax != len(x.shape) - 1 else x
    shape = ops.shape(moved)
    grouped = ops.reshape(moved, (*shape[:-1], g, shape[-1] // g))
    axes = tuple(range(1, len(x.shape) - 1)) + (len(x.shape),)
    mean = ops.mean(grouped, axis=axes, keepdims=True)
    var = ops.mean(ops.square(grouped - mean), axis=axes, keepdims=True)
    out = ops.reshape((grouped - mean) * ops.rsqrt(var + a["eps"]), shape)
    return ops.moveaxis(out, -1, ax) if ax != len(x.shape) - 1 else out


OPS: dict[str, Callable[[list, dict], Any]] = {
    "add": _binary(operator.add),
    "sub": _binary(operator.sub),
    "rsub": _binary(lambda x, y: y - x),
    "mul": _binary(operator.mul),
    "div": _binary(operator.truediv),
    "floor_divide": _binary(lambda x, y: ops.floor_divide(x, y)),
    "fmod": _binary(_fmod),
    "maximum": _binary(ops.maximum),
    "minimum": _binary(ops.minimum),
    "eq": _binary(ops.equal),
    "ne": _binary(ops.not_equal),
    "lt": _binary(ops.less),
    "le": _binary(ops.less_equal),
    "gt": _binary(ops.greater),
    "ge": _binary(ops.greater_equal),
    "logical_and": _binary(ops.logical_and),
    "logical_or": _binary(ops.logical_or),
    "pow": _pow,
    "where": _where,
    "relu": _unary(ops.relu),
    "relu6": _unary(lambda x: ops.clip(x, 0.0, 6.0)),
    "sigmoid": _unary(ops.sigmoid),
    "silu": _unary(lambda x: x * ops.sigmoid(x)),
    "tanh": _unary(ops.tanh),
    "exp": _unary(ops.exp),
    "log": _unary(ops.log),
    "sqrt": _unary(ops.sqrt),
    "rsqrt": _unary(ops.rsqrt),
    "neg": _unary(ops.negative),
    "abs": _unary(ops.abs),
    "erf": _unary(ops.erf),
    "reciprocal": _unary(lambda x: 1.0 / x),
    "floor": _unary(ops.floor),
    "ceil": _unary(ops.ceil),
    "sin": _unary(ops.sin),
    "cos": _unary(ops.cos),
    "logical_not": _unary(ops.logical_not),
    "identity": _unary(lambda x: x),
    "gelu": _gelu,
    "clamp": _clamp,
    "hardswish": _hardswish,
    "hardsigmoid": _hardsigmoid,
    "leaky_relu": _leaky_relu,
    "cast": _cast,
    "transpose": _transpose,
    "reshape": _reshape,
    "broadcast": _broadcast,
    "expand_dims": _expand_dims,
    "squeeze": _squeeze,
    "mean": _reduce(ops.mean),
    "sum": _reduce(ops.sum),
    "amax": _reduce(ops.max),
    "amin": _reduce(ops.min),
    "any": _reduce(ops.any),
    "var": _var,
    "slice": _slice,
    "select": _select,
    "concat": _concat,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "einsum": _einsum,
    "attention": _attention,
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "fixed_conv": _fixed_conv,
    "batch_stats_norm": _batch_stats_norm,
    "cumsum": _cumsum,
    "resize_matrices": _resize_matrices,
    "round_div": _round_div,
    "pad": _pad,
    "resize_nearest": _resize_nearest,
    "resize_bilinear": _resize_bilinear,
    "full_like": _full_like,
    "full": _full,
    "take": _take,
    "group_norm": _group_norm,
}
