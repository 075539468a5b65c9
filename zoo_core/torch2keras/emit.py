"""Emit a Keras 3 functional model from a core-ATen ``ExportedProgram``.

Convolutions, linear layers, BatchNorm, LayerNorm and GroupNorm become real Keras layers named after the torch
module that owns their weights (``layer1.0.conv1``), so ``backends/keras_weights.py`` maps the checkpoint both ways
unchanged. Every other op becomes a ``TorchOp`` layer (keras.ops) named ``<module path>.<node name>``. Values carry
a layout (``layout.py``): images stay NHWC and only reshapes across separated axes pay a transpose.

Imported only when converting (it imports Keras; torch must be imported first).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConversionError
from ..frameworks import import_torch
from . import layout as L
from .layers import Aliases, BatchNorm, Constant, DropPath, GroupNorm, Parameter, TorchOp, keras

INT_MAX = 2**62


@dataclass
class Value:
    """A torch tensor in the Keras graph: the Keras tensor, its layout and the torch shape (ints or expressions)."""

    tensor: Any
    perm: L.Perm
    shape: list[Any]
    cache: dict[L.Perm, Any] = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return len(self.perm)


def module_path(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    for path, _ in reversed(list(stack.values())):
        if path and not path.startswith("_"):
            return path
    return ""


class Emitter:
    """Walks the graph once, building Keras layers; ``build()`` returns (keras.Model, trace of emitted values)."""

    def __init__(self, program: Any, example_shape: tuple[int, ...], aliases: dict[str, str] | None = None):

        self.keras = keras
        self.torch = import_torch()
        self.ep = program
        self.graph = program.graph
        self.example_shape = example_shape
        self.aliases = dict(aliases or {})  # checkpoint name of a shared tensor -> its traced name
        self.env: dict[str, Any] = {}
        self.names: set[str] = set()
        self.layers_by_key: dict[str, Any] = {}
        self.trace: list[tuple[str, str, str, Value]] = []  # (node name, op, module path, value)
        sig = program.graph_signature
        self.inputs: dict[str, tuple[str, str | None]] = {}
        for spec in sig.input_specs:  # a shared tensor used under several names: one name, one Keras weight
            self.inputs[spec.arg.name] = (spec.kind.name, self.aliases.get(spec.target, spec.target))
        state = program.state_dict
        self.tensors = {**{k: v for k, v in state.items()}, **dict(program.constants)}
        self.symbols: dict[str, int] = {}  # symbol -> torch input dim
        self.hints: dict[str, int] = {}
        self.user_input: str | None = None

    # ------------------------------------------------------------------------------------------------ shapes

    def _sym(self, s: Any) -> Any:
        if isinstance(s, int):
            return s
        expr = s.node.expr
        if expr.is_Integer:
            return int(expr)
        return str(expr)

    def shape_of(self, node: Any) -> list[Any]:
        return [self._sym(s) for s in node.meta["val"].shape]

    def hint(self, s: Any) -> int:
        if isinstance(s, int):
            return s
        return int(L.eval_size(s, self.hints))

    def attrs_syms(self, shape: list[Any]) -> dict[str, Any]:
        """Attributes naming the input axis of each symbol a shape uses ({} when the shape is static)."""
        if not any(isinstance(s, str) for s in shape):
            return {}
        return {"syms": {name: L.NHWC.index(d) for name, d in self.symbols.items()}}

    # ------------------------------------------------------------------------------------------------ layers

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def op_name(self, node: Any, suffix: str = "") -> str:
        path = module_path(node)
        base = f"{path}.{node.name}" if path else node.name
        return self.unique(base + suffix)

    def op(self, fn: str, inputs: list[Any], attrs: dict[str, Any], node: Any, perm: L.Perm,
           shape: list[Any] | None = None, suffix: str = "") -> Value:
        if attrs.get("syms"):
            inputs = [*inputs, self.inp]
        aten = str(node.target) if node is not None else ""
        layer = TorchOp(fn, attrs, aten=aten, name=self.op_name(node, suffix) if node is not None
                        else self.unique(fn))
        tensor = layer(inputs if len(inputs) > 1 else inputs[0])
        return Value(tensor, perm, shape if shape is not None else self.shape_of(node))

    def to(self, v: Value, perm: L.Perm, node: Any) -> Value:
        """``v`` in layout ``perm`` (a transpose, cached per value)."""
        axes = L.transpose_axes(v.perm, perm)
        if axes is None:
            return v
        if perm not in v.cache:
            source = getattr(v.tensor, "_keras_history", None)
            if source is not None and isinstance(source[0], Constant):  # transposed here, not in the graph
                array = np.transpose(source[0].array, axes)
                v.cache[perm] = Value(Constant.of(array, name=self.unique(f"{source[0].name}.transpose"))(self.inp),
                                      perm, v.shape)
            else:
                v.cache[perm] = self.op("transpose", [v.tensor], {"axes": list(axes)}, node, perm, v.shape,
                                        suffix=".transpose")
        return v.cache[perm]

    def ident(self, v: Value, node: Any) -> Value:
        return self.to(v, L.identity(v.rank), node)

    # ------------------------------------------------------------------------------------------------ values

    def value(self, arg: Any) -> Any:
        """The Value of a node argument; parameters and constants used by plain ops become layers on first use."""
        torch = self.torch
        if not isinstance(arg, torch.fx.Node):
            return arg
        if arg.name in self.env:
            return self.env[arg.name]
        kind, target = self.inputs.get(arg.name, (None, None))
        if kind is None:
            raise ConversionError(f"internal: node {arg.name} used before it was emitted")
        array = self.tensors[target].detach().cpu().numpy()
        if kind in ("PARAMETER", "BUFFER") and target in self.ep.state_dict:
            layer = self.shared(f"{target}#parameter", lambda: Parameter(
                target, array.shape, trainable_param=kind == "PARAMETER", dtype_name=str(array.dtype),
                name=self.unique(target)))
        else:
            layer = Constant.of(array, name=self.unique(f"const.{target}"))
        v = Value(layer(self.inp), L.identity(array.ndim), list(array.shape))
        self.env[arg.name] = v
        return v

    def param_key(self, arg: Any, what: str, node: Any) -> str | None:
        if arg is None:
            return None
        kind, target = self.inputs.get(getattr(arg, "name", ""), (None, None))
        if kind not in ("PARAMETER", "BUFFER"):
            raise ConversionError(f"{node.target} at {module_path(node) or node.name}: its {what} is computed in the "
                                  "graph (not a parameter); the converter supports only parameter weights here")
        return target

    def array(self, key: str) -> np.ndarray:
        return self.tensors[key].detach().cpu().numpy()

    def shared(self, key: str, make: Any) -> Any:
        """The Keras layer owning parameter ``key``; one layer per torch module, reused when it is called twice."""
        if key not in self.layers_by_key:
            self.layers_by_key[key] = make()
        return self.layers_by_key[key]

    # ------------------------------------------------------------------------------------------------ build

    def build(self) -> tuple[Any, list[tuple[str, str, str, Value]]]:
        keras = self.keras
        user = [n for n in self.graph.nodes if n.op == "placeholder" and self.inputs[n.name][0] == "USER_INPUT"]
        if len(user) != 1:
            raise ConversionError(f"the model takes {len(user)} tensor inputs; the converter handles one image input")
        x = user[0]
        shape = self.shape_of(x)
        if len(shape) != 4:
            raise ConversionError(f"the model input has rank {len(shape)}; the converter handles NCHW images")
        for d, s in enumerate(shape):
            if isinstance(s, str):
                self.symbols[s] = d
                self.hints[s] = self.example_shape[d]
        n, c, h, w = shape
        self.inp = keras.Input((h if isinstance(h, int) else None, w if isinstance(w, int) else None, c),
                               name="input")
        image = Aliases(self.aliases, name="zoo_aliases")(self.inp) if self.aliases else self.inp
        self.env[x.name] = Value(image, L.NHWC, shape)
        out = None
        for node in self.graph.nodes:
            if node.op in ("placeholder",):
                continue
            if node.op == "output":
                out = node.args[0][0] if isinstance(node.args[0], (list, tuple)) else node.args[0]
                continue
            if node.op != "call_function":
                raise ConversionError(f"unexpected graph node {node.op} {node.target}")
            self.emit(node)
        result = self.ident(self.value(out), out)
        model = keras.Model(self.inp, result.tensor)
        return model, self.trace

    def emit(self, node: Any) -> None:
        target = node.target
        if target is operator.getitem:
            self.env[node.name] = self.env[node.args[0].name][node.args[1]]
            return
        val = node.meta.get("val")
        if not isinstance(val, (self.torch.Tensor, list, tuple)):  # symbolic sizes: read from shapes when needed
            return
        key = str(target)
        handler = HANDLERS.get(key)
        if handler is None:
            raise ConversionError(f"op {key} (at {module_path(node) or node.name}) is not supported by the "
                                  "PyTorch-to-Keras converter yet")
        try:
            result = handler(self, node)
        except ConversionError:
            raise
        except Exception as exc:
            raise ConversionError(f"converting {key} at {module_path(node) or node.name} failed: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        self.env[node.name] = result
        if isinstance(result, Value):
            self.trace.append((node.name, key, module_path(node), result))


# ---------------------------------------------------------------------------------------------------- handlers

HANDLERS: dict[str, Any] = {}


def handles(*names: str) -> Any:
    def deco(fn: Any) -> Any:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return deco


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = list(v)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _conv(e: Emitter, node: Any, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any,
          groups: int) -> Value:
    keras = e.keras
    kind, key = e.inputs.get(getattr(w, "name", ""), (None, None))
    if kind not in ("PARAMETER", "BUFFER") or key not in e.ep.state_dict:
        return _kernel_conv(e, node, x, w, b, stride, padding, dilation, groups)
    name = key[: -len(".weight")] if key.endswith(".weight") else key
    bkey = e.param_key(b, "bias", node) if b is not None else None
    wt = e.array(key)
    if wt.ndim != 4:
        raise ConversionError(f"{node.target} at {module_path(node)}: only 2-D convolutions are supported")
    out_c, in_per_group, kh, kw = wt.shape
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    if isinstance(padding, str):
        raise ConversionError(f"conv2d padding={padding!r} at {module_path(node)} is not supported")
    ph, pw = _pair(padding)
    v = e.to(e.value(x), L.NHWC, node)
    t = v.tensor
    same = (sh, sw) == (1, 1) and 2 * ph == dh * (kh - 1) and 2 * pw == dw * (kw - 1)
    if (ph or pw) and not same:
        pad = e.op("pad", [t], {"pads": [[0, 0], [ph, ph], [pw, pw], [0, 0]], "value": 0.0}, node, L.NHWC,
                   suffix=".pad")
        t = pad.tensor
    padding_mode = "same" if same and (ph or pw) else "valid"
    in_c = in_per_group * groups
    bias = bkey is not None
    if groups == in_c and in_per_group == 1 and groups > 1:
        layer = e.shared(name, lambda: keras.layers.DepthwiseConv2D(
            (kh, kw), strides=(sh, sw), padding=padding_mode, depth_multiplier=out_c // in_c, use_bias=bias,
            dilation_rate=(dh, dw), name=e.unique(name)))
    else:
        layer = e.shared(name, lambda: keras.layers.Conv2D(
            out_c, (kh, kw), strides=(sh, sw), padding=padding_mode, groups=groups, use_bias=bias,
            dilation_rate=(dh, dw), name=e.unique(name)))
    if bias and bkey != f"{name}.bias":
        raise ConversionError(f"conv at {module_path(node)}: bias {bkey} does not belong to weight {key}")
    return Value(layer(t), L.NHWC, e.shape_of(node))


def _padded_nhwc(e: Emitter, node: Any, x: Any, padding: Any) -> Any:
    """The convolution input in NHWC, zero-padded as torch's ``padding`` says (for ``ops.conv``'s "valid")."""
    ph, pw = _pair(padding)
    t = e.to(e.value(x), L.NHWC, node).tensor
    if ph or pw:
        t = e.op("pad", [t], {"pads": [[0, 0], [ph, ph], [pw, pw], [0, 0]], "value": 0.0}, node, L.NHWC,
                 suffix=".pad").tensor
    return t


def _kernel_conv(e: Emitter, node: Any, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any,
                 groups: int) -> Value:
    """A convolution whose kernel is not a checkpoint weight: computed in the graph from parameters (timm's
    StdConv2d/ScaledStdConv2d standardise the weight at every call; the kernel's ops run in the Keras graph, their
    parameters stay weights) or fixed (a non-persistent buffer such as timm's BlurPool filter: a graph constant, not
    trained, not in the weights). Plain or depthwise, with an optional bias."""
    kernel = e.value(w)
    out_c, in_per_group = (e.hint(s) for s in kernel.shape[:2])
    depthwise = in_per_group == 1 and groups > 1
    if groups != 1 and not depthwise:
        raise ConversionError(f"a grouped convolution ({groups} groups, not depthwise) by a kernel that is not a "
                              f"checkpoint weight at {module_path(node)} is not supported")
    t = _padded_nhwc(e, node, x, padding)
    kernel = e.to(kernel, (2, 3, 1, 0), node)  # torch (out, in, kh, kw) -> Keras (kh, kw, in, out)
    if depthwise:  # Keras: (kh, kw, in, multiplier)
        kh, kw = (e.hint(s) for s in kernel.shape[2:])
        kernel = e.op("reshape", [kernel.tensor], {"shape": [kh, kw, groups, out_c // groups]}, node,
                      (2, 3, 1, 0), kernel.shape, suffix=".kernel")
    attrs: dict[str, Any] = {"stride": list(_pair(stride)), "dilation": list(_pair(dilation)), "depthwise": depthwise}
    inputs = [t, kernel.tensor]
    if b is not None:
        inputs.append(e.value(b).tensor)
    return e.op("fixed_conv", inputs, attrs, node, L.NHWC)


@handles("aten.conv2d.default")
def _conv2d(e: Emitter, node: Any) -> Value:
    args = list(node.args) + [None] * (7 - len(node.args))
    x, w, b, stride, padding, dilation, groups = args
    return _conv(e, node, x, w, b, stride or 1, padding or 0, dilation or 1, groups or 1)


@handles("aten.convolution.default")
def _convolution(e: Emitter, node: Any) -> Value:
    x, w, b, stride, padding, dilation, transposed, _, groups = node.args
    if transposed:
        raise ConversionError(f"transposed convolution at {module_path(node)} is not supported")
    return _conv(e, node, x, w, b, stride, padding, dilation, groups)


@handles("aten.linear.default")
def _linear(e: Emitter, node: Any) -> Value:
    keras = e.keras
    x, w = node.args[0], node.args[1]
    b = node.args[2] if len(node.args) > 2 else None
    key = e.param_key(w, "weight", node)
    name = key[: -len(".weight")] if key.endswith(".weight") else key
    out_f = e.array(key).shape[0]
    v = e.value(x)
    last = v.rank - 1
    if v.perm[-1] != last:
        v = e.to(v, tuple(d for d in v.perm if d != last) + (last,), node)
    own_bias = b is not None and e.inputs.get(getattr(b, "name", ""), (None, None))[1] == f"{name}.bias"
    layer = e.shared(name, lambda: keras.layers.Dense(out_f, use_bias=own_bias, name=e.unique(name)))
    out = Value(layer(v.tensor), v.perm, e.shape_of(node))
    if b is not None and not own_bias:  # a bias computed in the graph (EVA's q/v biases around a zero k bias)
        out = e.op("add", [out.tensor, e.ident(e.value(b), node).tensor], {"ntensors": 2}, node, out.perm,
                   suffix=".bias")
    return out


@handles("aten._native_batch_norm_legit_no_training.default")
def _batch_norm(e: Emitter, node: Any) -> tuple:
    x, w, b, mean, var, momentum, eps = node.args
    key = e.param_key(mean, "running mean", node)
    name = key[: -len(".running_mean")]
    v = e.value(x)
    axis = L.axis(v.perm, 1)
    layer = e.shared(name, lambda: BatchNorm(axis=axis, epsilon=float(eps), momentum=1.0 - float(momentum),
                                             center=b is not None, scale=w is not None, name=e.unique(name)))
    if "num_batches_tracked" not in f"{name}.num_batches_tracked" or f"{name}.num_batches_tracked" not in e.tensors:
        raise ConversionError(f"BatchNorm {name} has no num_batches_tracked buffer; the converter needs it")
    out = Value(layer(v.tensor), v.perm, e.shape_of(node)[0] if False else [*v.shape])
    return (out, None, None)


@handles("aten._native_batch_norm_legit.no_stats", "aten._native_batch_norm_legit.default")
def _batch_norm_batch_stats(e: Emitter, node: Any) -> tuple:
    """BatchNorm on the batch's own statistics with no running ones to update (weight standardisation)."""
    x, w, b = node.args[:3]
    if "no_stats" not in str(node.target):
        raise ConversionError(f"BatchNorm in training mode with running statistics at {module_path(node)}: export "
                              "the model in eval mode")
    training, eps = node.args[3], node.args[5]
    if not training:
        raise ConversionError(f"BatchNorm without statistics in eval mode at {module_path(node)} is not supported")
    v = e.value(x)
    inputs = [v.tensor]
    for arg in (w, b):
        if arg is not None:
            p = e.value(arg)
            inputs.append(p.tensor)
    attrs = {"axis": L.axis(v.perm, 1), "eps": float(eps), "weight": w is not None, "bias": b is not None,
             "ntensors": len(inputs)}
    return (e.op("batch_stats_norm", inputs, attrs, node, v.perm, [*v.shape]), None, None)


@handles("aten.layer_norm.default")
def _layer_norm(e: Emitter, node: Any) -> Value:
    keras = e.keras
    args = list(node.args) + [None] * (6 - len(node.args))
    x, normalized, w, b, eps = args[:5]
    eps = 1e-5 if eps is None else float(eps)
    if len(normalized) != 1:
        raise ConversionError(f"layer_norm over {len(normalized)} dims at {module_path(node)} is not supported")
    key = e.param_key(w, "weight", node) if w is not None else None
    if key is None:
        raise ConversionError(f"layer_norm without weight at {module_path(node)} is not supported")
    name = key[: -len(".weight")]
    v = e.value(x)
    axis = L.axis(v.perm, v.rank - 1)
    layer = e.shared(name, lambda: keras.layers.LayerNormalization(
        axis=axis - v.rank, epsilon=eps, center=b is not None, scale=True, name=e.unique(name)))
    return Value(layer(v.tensor), v.perm, e.shape_of(node))


@handles("aten.native_group_norm.default")
def _group_norm(e: Emitter, node: Any) -> tuple:
    x, w, b, _, c, _, groups, eps = node.args
    key = e.param_key(w, "weight", node) if w is not None else None
    v = e.value(x)
    axis = L.axis(v.perm, 1)
    if key is None:
        out = e.op("group_norm", [v.tensor], {"axis": axis, "groups": groups, "eps": float(eps)}, node, v.perm,
                   v.shape)
        return (out, None, None)
    name = key[: -len(".weight")]
    layer = e.shared(name, lambda: GroupNorm(groups, int(c), float(eps), axis=axis, name=e.unique(name)))
    return (Value(layer(v.tensor), v.perm, list(v.shape)), None, None)


# --- elementwise


def _common(e: Emitter, node: Any, vals: list[Value]) -> tuple[list[Value], L.Perm]:
    """Bring tensor operands to one layout, lower-rank ones broadcast like torch (leading axes added)."""
    rank = max(v.rank for v in vals)
    ranked = [v for v in vals if v.rank == rank]
    target = next((v.perm for v in ranked if v.perm != L.identity(rank)), ranked[0].perm)
    out = []
    for v in vals:
        if v.rank < rank:
            v = e.ident(v, node)
            v = e.op("expand_dims", [v.tensor], {"axes": [0] * (rank - v.rank)}, node, L.identity(rank),
                     [1] * (rank - v.rank) + v.shape, suffix=".expand")
        out.append(e.to(v, target, node))
    return out, target


_PROMOTING = {"add", "sub", "rsub", "mul", "div", "maximum", "minimum", "pow", "fmod"}


def _elementwise(fn: str, *, scalar_attrs: tuple[str, ...] = ()) -> Any:
    def handler(e: Emitter, node: Any) -> Value:
        tensors, scalars = [], {}
        out_dtype = getattr(node.meta.get("val"), "dtype", None)
        for i, a in enumerate(node.args):
            v = e.value(a)
            if isinstance(v, Value):
                src = getattr(a.meta.get("val"), "dtype", None)
                if fn in _PROMOTING and out_dtype is not None and src is not None and src != out_dtype:
                    # torch's type promotion (int + float is float); Keras' ops want equal dtypes
                    v = e.op("cast", [v.tensor], {"dtype": str(out_dtype).replace("torch.", "")}, node, v.perm,
                             v.shape, suffix=f".cast{i}")
                tensors.append(v)
            elif isinstance(v, (int, float, bool)):
                scalars[str(i)] = _json_scalar(v)
        tensors, perm = _common(e, node, tensors)
        attrs: dict[str, Any] = {"ntensors": len(tensors)}
        if scalars:
            attrs["scalars"] = scalars
        alpha = node.kwargs.get("alpha")
        if alpha is not None and alpha != 1:
            attrs["alpha"] = alpha
        return e.op(fn, [t.tensor for t in tensors], attrs, node, perm)

    return handler


@handles("aten.div.Tensor_mode", "aten.div.Scalar_mode")
def _div_mode(e: Emitter, node: Any) -> Value:
    """Division with ``rounding_mode`` floor or trunc (None is plain division), in the output's dtype."""
    mode = node.kwargs.get("rounding_mode")
    out = _elementwise("div")(e, node)
    if mode is None:
        return out
    dtype = str(node.meta["val"].dtype).replace("torch.", "")
    return e.op("round_div", [out.tensor], {"mode": mode, "dtype": dtype}, node, out.perm, suffix=".round")


def _json_scalar(v: Any) -> Any:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return {"float": str(v)}
    return v


for _names, _fn in [
    (("aten.add.Tensor", "aten.add.Scalar"), "add"),
    (("aten.sub.Tensor", "aten.sub.Scalar"), "sub"),
    (("aten.rsub.Scalar", "aten.rsub.Tensor"), "rsub"),
    (("aten.mul.Tensor", "aten.mul.Scalar"), "mul"),
    (("aten.div.Tensor", "aten.div.Scalar"), "div"),
    (("aten.fmod.Scalar", "aten.fmod.Tensor"), "fmod"),
    (("aten.maximum.default",), "maximum"),
    (("aten.minimum.default",), "minimum"),
    (("aten.eq.Scalar", "aten.eq.Tensor"), "eq"),
    (("aten.ne.Scalar", "aten.ne.Tensor"), "ne"),
    (("aten.lt.Scalar", "aten.lt.Tensor"), "lt"),
    (("aten.le.Scalar", "aten.le.Tensor"), "le"),
    (("aten.gt.Scalar", "aten.gt.Tensor"), "gt"),
    (("aten.ge.Scalar", "aten.ge.Tensor"), "ge"),
    (("aten.logical_and.default",), "logical_and"),
    (("aten.logical_or.default",), "logical_or"),
    (("aten.pow.Tensor_Scalar", "aten.pow.Tensor_Tensor", "aten.pow.Scalar"), "pow"),
    (("aten.where.self",), "where"),
]:
    handles(*_names)(_elementwise(_fn))


def _unary(fn: str, **fixed: Any) -> Any:
    def handler(e: Emitter, node: Any) -> Value:
        v = e.value(node.args[0])
        return e.op(fn, [v.tensor], dict(fixed), node, v.perm)

    return handler


for _name, _fn in [
    ("relu", "relu"), ("sigmoid", "sigmoid"), ("tanh", "tanh"), ("exp", "exp"), ("log", "log"), ("sqrt", "sqrt"),
    ("rsqrt", "rsqrt"), ("neg", "neg"), ("abs", "abs"), ("erf", "erf"), ("reciprocal", "reciprocal"),
    ("logical_not", "logical_not"), ("hardswish", "hardswish"), ("hardsigmoid", "hardsigmoid"), ("silu", "silu"),
    ("floor", "floor"), ("ceil", "ceil"), ("sin", "sin"), ("cos", "cos"),
]:
    handles(f"aten.{_name}.default")(_unary(_fn))


@handles("aten.bitwise_not.default")
def _bitwise_not(e: Emitter, node: Any) -> Value:
    """``~mask`` on a boolean tensor (EdgeNeXt's position encoding); integer bit flips are not supported."""
    if node.args[0].meta["val"].dtype != e.torch.bool:
        raise ConversionError(f"bitwise_not on integers at {module_path(node)} is not supported")
    v = e.value(node.args[0])
    return e.op("logical_not", [v.tensor], {}, node, v.perm)


@handles("aten.cumsum.default")
def _cumsum(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    dtype = str(node.meta["val"].dtype).replace("torch.", "")
    return e.op("cumsum", [v.tensor], {"axis": L.axis(v.perm, node.args[1] % v.rank), "dtype": dtype}, node, v.perm)


@handles("aten.gelu.default")
def _gelu(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    return e.op("gelu", [v.tensor], {"approximate": node.kwargs.get("approximate", "none")}, node, v.perm)


@handles("aten.clamp.default", "aten.clamp_min.default", "aten.clamp_max.default", "aten.hardtanh.default")
def _clamp(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    rest = list(node.args[1:])
    name = str(node.target)
    if "clamp_min" in name:
        lo, hi = rest[0], None
    elif "clamp_max" in name:
        lo, hi = None, rest[0]
    elif "hardtanh" in name:
        lo, hi = (rest + [-1.0, 1.0])[0], (rest + [-1.0, 1.0, 1.0])[1]
    else:
        lo = rest[0] if rest else node.kwargs.get("min")
        hi = rest[1] if len(rest) > 1 else node.kwargs.get("max")
    return e.op("clamp", [v.tensor], {"min": _json_scalar(lo), "max": _json_scalar(hi)}, node, v.perm)


@handles("aten.leaky_relu.default")
def _leaky(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    slope = node.args[1] if len(node.args) > 1 else 0.01
    return e.op("leaky_relu", [v.tensor], {"slope": float(slope)}, node, v.perm)


@handles("aten.clone.default", "aten.alias.default", "aten.detach.default", "aten.lift_fresh_copy.default",
         "aten.contiguous.default")
def _same(e: Emitter, node: Any) -> Value:
    return e.value(node.args[0])


@handles("aten._to_copy.default")
def _to_copy(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    dtype = node.meta["val"].dtype
    name = str(dtype).replace("torch.", "")
    source = getattr(getattr(node.args[0], "meta", {}).get("val"), "dtype", None)
    if source == dtype or name == str(getattr(v.tensor, "dtype", "")):
        return v
    return e.op("cast", [v.tensor], {"dtype": name}, node, v.perm)


@handles("zoo.dropout.default")
def _dropout(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    layer = e.keras.layers.Dropout(float(node.args[1]), name=e.op_name(node))
    return Value(layer(v.tensor), v.perm, v.shape)


@handles("zoo.drop_path.default")
def _drop_path(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    return Value(DropPath(float(node.args[1]), name=e.op_name(node))(v.tensor), v.perm, v.shape)


# --- layout and shape


@handles("aten.permute.default")
def _permute(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    return Value(v.tensor, L.after_permute(v.perm, node.args[1]), e.shape_of(node))


@handles("aten.t.default")
def _t(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    return Value(v.tensor, L.after_permute(v.perm, [1, 0]) if v.rank == 2 else v.perm, e.shape_of(node))


@handles("aten.transpose.int")
def _transpose(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    d = list(range(v.rank))
    a, b = node.args[1] % v.rank, node.args[2] % v.rank
    d[a], d[b] = d[b], d[a]
    return Value(v.tensor, L.after_permute(v.perm, d), e.shape_of(node))


@handles("aten.view.default", "aten._unsafe_view.default", "aten.reshape.default", "aten.as_strided.default")
def _view(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    out = e.shape_of(node)
    if "as_strided" in str(node.target):
        # only the no-op as_strided (same shape, contiguous) that some decompositions leave behind
        if [e.hint(s) for s in out] != [e.hint(s) for s in v.shape]:
            raise ConversionError(f"as_strided at {module_path(node)} changes the shape; not supported")
        return Value(v.tensor, v.perm, out)
    sizes = node.args[1] if len(node.args) > 1 and isinstance(node.args[1], (list, tuple)) else None
    if sizes is not None and len(sizes) == len(out):  # a literal size beats an expression torch left unsimplified
        out = [a if isinstance(a, int) and a >= 0 else o for o, a in zip(out, sizes, strict=True)]
    src = [e.hint(s) for s in v.shape]
    dst = [e.hint(s) for s in out]
    if src == dst:
        return Value(v.tensor, v.perm, out)
    plan = L.plan_reshape(v.perm, src, dst)
    if plan is None:
        v = e.ident(v, node)
        plan = L.plan_reshape(v.perm, src, dst)
    keras_dims, perm = plan
    shape = [out[d] for d in keras_dims]
    return e.op("reshape", [v.tensor], {"shape": shape, **e.attrs_syms(shape)}, node, perm, out)


@handles("aten.expand.default")
def _expand(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    out = e.shape_of(node)
    if len(out) != v.rank:
        v = e.ident(v, node)
        v = e.op("expand_dims", [v.tensor], {"axes": [0] * (len(out) - v.rank)}, node, L.identity(len(out)),
                 [1] * (len(out) - v.rank) + v.shape, suffix=".expand")
    if [e.hint(s) for s in out] == [e.hint(s) for s in v.shape] and out == v.shape:
        return Value(v.tensor, v.perm, out)
    shape = [out[d] for d in v.perm]
    return e.op("broadcast", [v.tensor], {"shape": shape, **e.attrs_syms(shape)}, node, v.perm, out)


@handles("aten.squeeze.dims", "aten.squeeze.dim", "aten.squeeze.default")
def _squeeze(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    if len(node.args) > 1:
        dims = node.args[1] if isinstance(node.args[1], (list, tuple)) else [node.args[1]]
        dims = [d % v.rank for d in dims if e.hint(v.shape[d % v.rank]) == 1]
    else:
        dims = [d for d in range(v.rank) if e.hint(v.shape[d]) == 1]
    if not dims:
        return v
    axes = [L.axis(v.perm, d) for d in dims]
    return e.op("squeeze", [v.tensor], {"axes": axes}, node, L.after_reduce(v.perm, dims, False))


@handles("aten.unsqueeze.default")
def _unsqueeze(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    d = node.args[1] % (v.rank + 1)
    if v.perm == L.identity(v.rank):
        return e.op("expand_dims", [v.tensor], {"axes": [d]}, node, L.identity(v.rank + 1))
    return e.op("expand_dims", [v.tensor], {"axes": [v.rank]}, node, L.after_insert(v.perm, d))


def _reduction(fn: str) -> Any:
    def handler(e: Emitter, node: Any) -> Value:
        v = e.value(node.args[0])
        if len(node.args) > 1 and node.args[1] is not None:
            dims = node.args[1] if isinstance(node.args[1], (list, tuple)) else [node.args[1]]
        else:
            dims = list(range(v.rank))
        dims = [d % v.rank for d in dims] or list(range(v.rank))
        keep = bool(node.args[2]) if len(node.args) > 2 else bool(node.kwargs.get("keepdim", False))
        attrs: dict[str, Any] = {"axes": [L.axis(v.perm, d) for d in dims], "keepdims": keep}
        if fn == "var":
            attrs["correction"] = node.kwargs.get("correction", 1)
        return e.op(fn, [v.tensor], attrs, node, L.after_reduce(v.perm, dims, keep))

    return handler


handles("aten.mean.dim", "aten.mean.default")(_reduction("mean"))
handles("aten.sum.dim_IntList", "aten.sum.default")(_reduction("sum"))
handles("aten.amax.default")(_reduction("amax"))
handles("aten.amin.default")(_reduction("amin"))
handles("aten.any.dim", "aten.any.dims", "aten.any.default")(_reduction("any"))
handles("aten.var.correction")(_reduction("var"))


@handles("aten.slice.Tensor")
def _slice(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    args = list(node.args) + [None] * (5 - len(node.args))
    _, dim, start, end, step = args
    dim = (dim or 0) % v.rank
    start = e._sym(start) if start is not None and not isinstance(start, int) else (start or 0)
    if isinstance(end, e.torch.fx.Node):
        end = e._sym(end.meta["val"])
    end = INT_MAX if end is None else (min(end, INT_MAX) if isinstance(end, int) else end)
    if start == 0 and isinstance(end, int) and end >= e.hint(v.shape[dim]) and (step or 1) == 1:
        return v
    attrs = {"axis": L.axis(v.perm, dim), "start": start, "end": end, "step": step or 1,
             **e.attrs_syms([start, end])}
    return e.op("slice", [v.tensor], attrs, node, v.perm)


@handles("aten.slice_scatter.default")
def _slice_scatter(e: Emitter, node: Any) -> Value:
    """``input`` with ``input[start:end]`` along ``dim`` replaced by ``src``: ``src`` itself when the slice is the
    whole dimension (what in-place updates of a whole tensor decompose to), else a concat of the three parts."""
    args = list(node.args) + [None] * (6 - len(node.args))
    x, src, dim, start, end, step = e.value(args[0]), e.value(args[1]), args[2] or 0, args[3], args[4], args[5]
    dim %= x.rank
    if not all(isinstance(a, int) for a in (start or 0, end if end is not None else 0, step or 1)):
        raise ConversionError(f"slice_scatter with a size computed from the input at {module_path(node)} is not "
                              "supported")
    size = e.hint(x.shape[dim])
    start, end = start or 0, size if end is None else min(end, size)
    if (step or 1) != 1:
        raise ConversionError(f"slice_scatter with step {step} at {module_path(node)} is not supported")
    if start == 0 and end >= size:
        return Value(src.tensor, src.perm, e.shape_of(node), src.cache)
    parts = []
    if start > 0:
        attrs = {"axis": L.axis(x.perm, dim), "start": 0, "end": start, "step": 1}
        shape = list(x.shape)
        shape[dim] = start
        parts.append(e.op("slice", [x.tensor], attrs, node, x.perm, shape, suffix=".head"))
    parts.append(src)
    if end < size:
        attrs = {"axis": L.axis(x.perm, dim), "start": end, "end": INT_MAX, "step": 1}
        shape = list(x.shape)
        shape[dim] = size - end
        parts.append(e.op("slice", [x.tensor], attrs, node, x.perm, shape, suffix=".tail"))
    parts, perm = _common(e, node, parts)
    return e.op("concat", [v.tensor for v in parts], {"axis": L.axis(perm, dim), "ntensors": len(parts)}, node,
                perm)


@handles("aten.copy.default")
def _copy(e: Emitter, node: Any) -> Value:
    """``copy(dst, src)``: the values of ``src`` in ``dst``'s shape (what in-place assignment leaves behind)."""
    dst, src = e.value(node.args[0]), e.value(node.args[1])
    if [e.hint(s) for s in dst.shape] != [e.hint(s) for s in src.shape]:
        raise ConversionError(f"copy with broadcasting at {module_path(node)} is not supported")
    return Value(src.tensor, src.perm, e.shape_of(node), src.cache)


@handles("aten.select.int")
def _select(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    dim = node.args[1] % v.rank
    return e.op("select", [v.tensor], {"axis": L.axis(v.perm, dim), "index": int(node.args[2])}, node,
                L.after_reduce(v.perm, [dim], False))


@handles("aten.split_with_sizes.default", "aten.split.Tensor")
def _split(e: Emitter, node: Any) -> list[Value]:
    v = e.value(node.args[0])
    dim = (node.args[2] if len(node.args) > 2 else 0) % v.rank
    total = e.hint(v.shape[dim])
    if "split_with_sizes" in str(node.target):
        sizes = list(node.args[1])
    else:
        size = node.args[1]
        sizes = [size] * (total // size) + ([total % size] if total % size else [])
    outs, start = [], 0
    for i, size in enumerate(sizes):
        shape = list(v.shape)
        shape[dim] = size
        attrs = {"axis": L.axis(v.perm, dim), "start": start, "end": start + size, "step": 1}
        outs.append(e.op("slice", [v.tensor], attrs, node, v.perm, shape, suffix=f".{i}"))
        start += size
    return outs


@handles("aten.cat.default")
def _cat(e: Emitter, node: Any) -> Value:
    vals = [e.value(a) for a in node.args[0]]
    vals = [v for v in vals if e.hint(v.shape[0]) > 0 or v.rank > 1]
    dim = (node.args[1] if len(node.args) > 1 else 0) % vals[0].rank
    vals, perm = _common(e, node, vals)
    return e.op("concat", [v.tensor for v in vals], {"axis": L.axis(perm, dim), "ntensors": len(vals)}, node, perm)


@handles("aten._softmax.default", "aten.softmax.int", "aten._log_softmax.default")
def _softmax(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    fn = "log_softmax" if "log_softmax" in str(node.target) else "softmax"
    return e.op(fn, [v.tensor], {"axis": L.axis(v.perm, node.args[1] % v.rank)}, node, v.perm)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@handles("aten.bmm.default", "aten.mm.default", "aten.addmm.default")
def _matmul(e: Emitter, node: Any) -> Value:
    addmm = "addmm" in str(node.target)
    args = node.args[1:3] if addmm else node.args[:2]
    a, b = e.value(args[0]), e.value(args[1])
    r = a.rank
    batch = _LETTERS[: r - 2]
    la, lb, lo = batch + "yk", batch + "kz", batch + "yz"
    eq = "".join(la[d] for d in a.perm) + "," + "".join(lb[d] for d in b.perm) + "->" + lo
    inputs = [a.tensor, b.tensor]
    attrs: dict[str, Any] = {"equation": eq}
    if addmm:
        if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
            raise ConversionError(f"addmm with beta/alpha at {module_path(node)} is not supported")
        bias = e.value(node.args[0])
        if bias.rank == 2:
            bias = e.ident(bias, node)
        inputs.append(bias.tensor)
        attrs["beta_bias"] = True
    return e.op("einsum", inputs, attrs, node, L.identity(r))


@handles("aten.scaled_dot_product_attention.default")
def _attention(e: Emitter, node: Any) -> Value:
    """Attention kept whole (trace.py does not decompose it): einsums read q, k and v in their layouts and write
    the output in q's, so splitting and merging the heads costs no transpose."""
    args = list(node.args) + [None] * (6 - len(node.args))
    q, k, v = (e.value(a) for a in args[:3])
    mask, dropout_p, causal = args[3], args[4] or 0.0, bool(args[5] or node.kwargs.get("is_causal", False))
    if node.kwargs.get("enable_gqa") or dropout_p:
        raise ConversionError(f"scaled_dot_product_attention at {module_path(node)} with grouped-query heads or "
                              "dropout in eval is not supported")
    r = q.rank
    if k.rank != r or v.rank != r:
        raise ConversionError(f"scaled_dot_product_attention at {module_path(node)} with operands of different "
                              "ranks is not supported")
    batch = _LETTERS[: r - 2]
    lq, lk, lv, ls, lo = batch + "ye", batch + "ze", batch + "zf", batch + "yz", batch + "yf"

    def keras_letters(letters: str, val: Value) -> str:
        return "".join(letters[d] for d in val.perm)

    scale = node.kwargs.get("scale")
    if scale is None:
        scale = 1.0 / float(np.sqrt(e.hint(q.shape[-1])))
    attrs: dict[str, Any] = {
        "qk": f"{keras_letters(lq, q)},{keras_letters(lk, k)}->{ls}",
        "pv": f"{ls},{keras_letters(lv, v)}->{keras_letters(lo, q)}",
        "scale": float(scale), "causal": causal,
    }
    inputs = [q.tensor, k.tensor, v.tensor]
    if mask is not None:
        m = e.ident(e.value(mask), node)
        attrs["mask"] = "bool" if node.args[3].meta["val"].dtype == e.torch.bool else "float"
        inputs.append(m.tensor)
    attrs["ntensors"] = len(inputs)
    return e.op("attention", inputs, attrs, node, q.perm)


def _pool_pads(e: Emitter, v: Value, kernel: tuple, stride: tuple, padding: tuple, ceil: bool, node: Any) -> list:
    """[top, bottom, left, right]; None when ceil_mode padding depends on a symbolic size (computed at run time)."""
    if ceil and any(isinstance(s, str) for s in v.shape[2:]):
        return None
    pads = []
    for i, (k, s, p) in enumerate(zip(kernel, stride, padding, strict=True)):
        size = v.shape[2 + i]
        extra = 0
        if ceil:
            n = size + 2 * p - k
            out = -(-n // s) + 1
            if (out - 1) * s >= size + p:
                out -= 1
            extra = max(0, (out - 1) * s + k - (size + 2 * p))
        pads += [p, p + extra]
    return pads


def _sym_pads(padding: tuple) -> list:
    return [padding[0], padding[0], padding[1], padding[1]]


@handles("aten.max_pool2d_with_indices.default", "aten.max_pool2d.default")
def _max_pool(e: Emitter, node: Any) -> Any:
    args = list(node.args) + [None] * (6 - len(node.args))
    x, kernel, stride, padding, dilation, ceil = args
    kernel = _pair(kernel)
    stride = _pair(stride) if stride else kernel
    padding = _pair(padding or 0)
    if dilation and _pair(dilation) != (1, 1):
        raise ConversionError(f"dilated max pooling at {module_path(node)} is not supported")
    v = e.to(e.value(x), L.NHWC, node)
    pads = _pool_pads(e, v, kernel, stride, padding, bool(ceil), node)
    shape = e.shape_of(node) if "indices" not in str(node.target) else [e._sym(s) for s in node.meta["val"][0].shape]
    attrs = {"kernel": list(kernel), "stride": list(stride), "pads": pads or _sym_pads(padding),
             "ceil": pads is None}
    out = e.op("max_pool", [v.tensor], attrs, node, L.NHWC, shape)
    return (out, None) if "indices" in str(node.target) else out


@handles("aten.avg_pool2d.default")
def _avg_pool(e: Emitter, node: Any) -> Value:
    args = list(node.args) + [None] * (7 - len(node.args))
    x, kernel, stride, padding, ceil, count_include_pad, divisor = args
    if divisor is not None:
        raise ConversionError(f"avg_pool2d divisor_override at {module_path(node)} is not supported")
    kernel = _pair(kernel)
    stride = _pair(stride) if stride else kernel
    padding = _pair(padding or 0)
    v = e.to(e.value(x), L.NHWC, node)
    pads = _pool_pads(e, v, kernel, stride, padding, bool(ceil), node)
    sym = _sym_pads(padding)
    attrs = {"kernel": list(kernel), "stride": list(stride), "pads": pads or sym, "ceil": pads is None,
             "sym_pads": sym,
             "count_include_pad": True if count_include_pad is None else bool(count_include_pad)}
    return e.op("avg_pool", [v.tensor], attrs, node, L.NHWC)


@handles("aten._adaptive_avg_pool2d.default", "aten.adaptive_avg_pool2d.default")
def _adaptive_avg(e: Emitter, node: Any) -> Value:
    v = e.to(e.value(node.args[0]), L.NHWC, node)
    oh, ow = _pair(node.args[1])
    h, w = (e.hint(s) for s in v.shape[2:])
    if (oh, ow) == (1, 1):
        return e.op("mean", [v.tensor], {"axes": [1, 2], "keepdims": True}, node, L.NHWC)
    if not all(isinstance(s, int) for s in (oh, ow, *v.shape[2:])):
        # e.g. VGG's pre-logits pool to max(7, H // 32): a size known only at run time (convert retraces with a
        # fixed image size)
        raise ConversionError(f"adaptive_avg_pool2d to a size computed from the input at {module_path(node)} "
                              "needs a fixed input size")
    if h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        return e.op("avg_pool", [v.tensor], {"kernel": k, "stride": k, "pads": [0, 0, 0, 0],
                                             "sym_pads": [0, 0, 0, 0], "count_include_pad": True}, node, L.NHWC)
    return _by_matrices(e, node, v, [_adaptive_weights(h, oh), _adaptive_weights(w, ow)])


@handles("aten.constant_pad_nd.default")
def _pad(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    pad = list(node.args[1])
    value = node.args[2] if len(node.args) > 2 else 0.0
    torch_pads = [[0, 0] for _ in range(v.rank)]
    for i in range(len(pad) // 2):
        torch_pads[v.rank - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    if any(p < 0 for pp in torch_pads for p in pp):
        raise ConversionError(f"negative padding (cropping) at {module_path(node)} is not supported")
    pads = [torch_pads[d] for d in v.perm]
    return e.op("pad", [v.tensor], {"pads": pads, "value": _json_scalar(float(value))}, node, v.perm)


@handles("aten.upsample_nearest2d.vec", "aten.upsample_nearest2d.default")
def _up_nearest(e: Emitter, node: Any) -> Value:
    v = e.to(e.value(node.args[0]), L.NHWC, node)
    out = e.shape_of(node)
    fh, fw = (e.hint(out[2]) // e.hint(v.shape[2]), e.hint(out[3]) // e.hint(v.shape[3]))
    if fh * e.hint(v.shape[2]) != e.hint(out[2]) or fw * e.hint(v.shape[3]) != e.hint(out[3]):
        raise ConversionError(f"nearest upsampling by a non-integer factor at {module_path(node)}")
    return e.op("resize_nearest", [v.tensor], {"factor": [fh, fw]}, node, L.NHWC)


@handles("aten.upsample_bilinear2d.vec", "aten.upsample_bilinear2d.default")
def _up_bilinear(e: Emitter, node: Any) -> Value:
    v = e.to(e.value(node.args[0]), L.NHWC, node)
    out = e.shape_of(node)
    if any(isinstance(s, str) for s in out[2:]):
        raise ConversionError(f"bilinear upsampling to a symbolic size at {module_path(node)}")
    return e.op("resize_bilinear", [v.tensor], {"size": out[2:], "align_corners": bool(node.args[2])}, node,
                L.NHWC)


def _adaptive_weights(size: int, out: int) -> np.ndarray:
    """(out, size) averaging matrix of torch's adaptive pooling: bin i spans floor(i*size/out)..ceil((i+1)*size/out)."""
    m = np.zeros((out, size), dtype=np.float32)
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _by_matrices(e: Emitter, node: Any, v: Value, mats: list[np.ndarray]) -> Value:
    """NHWC ``v`` resized or pooled by an (out_h, h) and an (out_w, w) matrix, stored as graph constants."""
    consts = [Constant.of(m, name=e.unique(f"const.{module_path(node)}.{node.name}.{axis}"))(e.inp)
              for m, axis in zip(mats, "hw", strict=True)]
    return e.op("resize_matrices", [v.tensor, *consts], {"ntensors": 3}, node, L.NHWC)


def _bicubic_weights(size: int, out: int, align_corners: bool, scale: float | None) -> np.ndarray:
    """(out, size) matrix of torch's bicubic interpolation (A = -0.75, source index not clamped, taps clamped)."""
    a = -0.75

    def near(x: float) -> float:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: float) -> float:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    step = (size - 1) / max(out - 1, 1) if align_corners else (1.0 / scale if scale else size / out)
    m = np.zeros((out, size), dtype=np.float64)
    for i in range(out):
        src = i * step if align_corners else (i + 0.5) * step - 0.5
        base = int(np.floor(src))
        t = src - base
        for k, w in enumerate((far(t + 1), near(t), near(1 - t), far(2 - t))):
            m[i, min(max(base - 1 + k, 0), size - 1)] += w
    return m.astype(np.float32)


@handles("aten.upsample_bicubic2d.vec", "aten.upsample_bicubic2d.default")
def _up_bicubic(e: Emitter, node: Any) -> Value:
    """Bicubic resizing between static sizes as two interpolation matrices (torch's kernel, not TF's)."""
    v = e.to(e.value(node.args[0]), L.NHWC, node)
    out = e.shape_of(node)
    if not all(isinstance(s, int) for s in (*out[2:], *v.shape[2:])):
        raise ConversionError(f"bicubic resizing at {module_path(node)} needs a fixed input size")
    align = bool(node.args[2])
    scales = node.args[3] if "vec" in str(node.target) and len(node.args) > 3 else None
    scales = list(scales) if scales else [None, None]
    return _by_matrices(e, node, v, [_bicubic_weights(v.shape[2 + i], out[2 + i], align, scales[i]) for i in (0, 1)])


@handles("aten.full_like.default", "aten.zeros_like.default", "aten.ones_like.default")
def _full_like(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    name = str(node.target)
    value = 0.0 if "zeros" in name else 1.0 if "ones" in name else node.args[1]
    return e.op("full_like", [v.tensor], {"value": _json_scalar(value)}, node, v.perm)


@handles("aten.full.default", "aten.scalar_tensor.default", "aten.arange.start_step", "aten.arange.default",
         "aten.zeros.default", "aten.ones.default")
def _creation(e: Emitter, node: Any) -> Value:
    shape = e.shape_of(node)
    if any(isinstance(s, str) for s in shape):
        if "full" not in str(node.target):
            raise ConversionError(f"{node.target} with a symbolic size at {module_path(node)} is not supported")
        dtype = str(node.meta["val"].dtype).replace("torch.", "")
        return e.op("full", [e.inp], {"shape": shape, "value": _json_scalar(node.args[1]), "dtype": dtype,
                                      **e.attrs_syms(shape)}, node, L.identity(len(shape)))
    # static: evaluate with torch and store as a constant
    value = node.target(*node.args, **{k: v for k, v in node.kwargs.items() if k not in ("device", "pin_memory")})
    array = value.detach().cpu().numpy()
    layer = Constant.of(array, name=e.op_name(node))
    return Value(layer(e.inp), L.identity(array.ndim), list(array.shape))


@handles("aten.index_select.default")
def _index_select(e: Emitter, node: Any) -> Value:
    """``x.index_select(dim, idx)`` with a 1-D index (Swin's relative position bias table)."""
    v = e.value(node.args[0])
    dim = node.args[1] % v.rank
    iv = e.ident(e.value(node.args[2]), node)
    return e.op("take", [v.tensor, iv.tensor], {"axis": L.axis(v.perm, dim)}, node, v.perm)


@handles("aten.index.Tensor")
def _index(e: Emitter, node: Any) -> Value:
    v = e.value(node.args[0])
    indices = node.args[1]
    live = [(d, i) for d, i in enumerate(indices) if i is not None]
    if len(live) != 1:
        raise ConversionError(f"advanced indexing with {len(live)} index tensors at {module_path(node)}")
    d, idx = live[0]
    iv = e.ident(e.value(idx), node)
    v = e.ident(v, node)
    out_rank = len(e.shape_of(node))
    return e.op("take", [v.tensor, iv.tensor], {"axis": d}, node, L.identity(out_rank))
