"""Single ops of the converter on small torch modules: attention without transposes, slice_scatter, adaptive
pooling between any sizes, convolutions by a fixed kernel, reshapes whose sizes torch leaves unsimplified."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from zoo_core.backends import keras_weights  # noqa: E402
from zoo_core.torch2keras import convert as conv  # noqa: E402

F = torch.nn.functional


def _max_rel(model, keras_model, x):
    with torch.no_grad():
        a = model.eval()(torch.from_numpy(x)).numpy()
    b = np.asarray(keras_model(x.transpose(0, 2, 3, 1), training=False))
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-6))


def _converted(model, size: tuple[int, int], check: tuple[int, ...], seed: int):
    """``model`` converted at ``size`` with parity, and its logits equal to torch's on a batch of shape ``check``."""
    result = conv.convert(model.eval(), size)
    assert result.parity.ok, result.parity
    x = np.random.default_rng(seed).standard_normal(check).astype(np.float32)
    assert _max_rel(model, result.model, x) < 1e-4
    return result


class Attention(torch.nn.Module):
    """Patchify, then timm-style multi-head attention (fused qkv, heads split by reshape/permute)."""

    def __init__(self, mask: str | None = None, causal: bool = False):
        super().__init__()
        self.embed = torch.nn.Conv2d(3, 16, 4, 4)
        self.qkv = torch.nn.Linear(16, 48)
        self.proj = torch.nn.Linear(16, 5)
        self.mask, self.causal = mask, causal
        if mask == "float":  # a relative-position-bias-like buffer: 16 tokens at 16 px
            self.register_buffer("bias", torch.linspace(-1.0, 1.0, 256).reshape(16, 16))

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)  # (B, N, 16)
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, 4, c // 4).permute(2, 0, 3, 1, 4).unbind(0)
        mask = None
        if self.mask == "bool":
            mask = torch.ones(n, n, dtype=torch.bool).triu(1).logical_not()
        elif self.mask == "float":
            mask = self.bias
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)
        return self.proj(x.transpose(1, 2).reshape(b, n, c).mean(1))


@pytest.mark.parametrize("mask,causal", [(None, False), ("bool", False), ("float", False), (None, True)])
def test_attention_is_two_einsums_without_transposes(mask, causal):
    model = Attention(mask, causal)
    result = _converted(model, (16, 16), (2, 3, 16, 16), 1)
    assert result.transposes == 0  # splitting and merging the heads is free
    assert any(getattr(layer, "fn", None) == "attention" for layer in result.model.layers)


class Scatter(torch.nn.Module):
    """In-place updates of a slice and of a whole tensor (what GhostNet's residual add decomposes to)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        y[:, 2:5] = y[:, 2:5] * 2.0 + 1.0
        y[:, :, :, :] += x.mean(1, keepdim=True)
        return y.mean((2, 3))


def test_slice_scatter_partial_and_whole():
    model = Scatter()
    _converted(model, (12, 12), (2, 3, 20, 16), 2)  # another size: dynamic


class Pool(torch.nn.Module):
    def __init__(self, size):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.size = size

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.conv(x), self.size).flatten(1)


@pytest.mark.parametrize("size,out", [(8, 3), (4, 7), (9, (2, 5))])  # uneven bins, upsampling, mixed
def test_adaptive_average_pooling_between_any_static_sizes(size, out):
    model = Pool(out)
    _converted(model, (size + 2, size + 2), (2, 3, size + 2, size + 2), 3)


class Blur(torch.nn.Module):
    """A convolution by a fixed, non-persistent kernel (timm's BlurPool) between two trained ones, and one by a fixed
    kernel with a fixed bias."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 6, 3, padding=1)
        filt = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("filt", (filt[:, None] * filt[None, :] / 16).expand(6, 1, 3, 3).clone(),
                             persistent=False)
        self.conv2 = torch.nn.Conv2d(6, 5, 1)
        self.register_buffer("mix", torch.linspace(-1.0, 1.0, 4 * 5).reshape(4, 5, 1, 1), persistent=False)
        self.register_buffer("shift", torch.linspace(0.0, 0.3, 4), persistent=False)

    def forward(self, x):
        x = F.conv2d(F.pad(self.conv1(x), (1, 1, 1, 1)), self.filt, stride=2, groups=6)
        return F.conv2d(self.conv2(x), self.mix, self.shift).mean((2, 3))


def test_fixed_kernel_is_a_constant_not_a_weight():
    model = Blur()
    result = _converted(model, (16, 16), (1, 3, 24, 16), 4)
    assert set(keras_weights.to_canonical(result.model)) == set(model.state_dict())  # no filt: not a checkpoint key
    assert result.transposes == 0  # the kernels are transposed at conversion, not in the graph


class SpaceToDepth(torch.nn.Module):
    """TResNet's stem: the channel count of the reshape is an expression torch.export leaves unsimplified."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(48, 4, 1)

    def forward(self, x):
        n, c, h, w = x.size()
        x = x.view(n, c, h // 4, 4, w // 4, 4).permute(0, 3, 5, 1, 2, 4).contiguous()
        return self.conv(x.view(n, c * 16, h // 4, w // 4)).mean((2, 3))


def test_reshape_keeps_literal_sizes():
    model = SpaceToDepth()
    _converted(model, (16, 16), (2, 3, 16, 16), 5)


class StdConv(torch.nn.Module):
    """Weight standardisation at every call (timm's StdConv2d / ScaledStdConv2d, NFNet and BiT), plain and
    depthwise."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.gain = torch.nn.Parameter(torch.linspace(0.5, 1.5, 6).reshape(6, 1, 1, 1))
        self.dw = torch.nn.Conv2d(6, 6, 3, groups=6, bias=False)

    def forward(self, x):
        w = F.batch_norm(self.conv.weight.reshape(1, 6, -1), None, None, weight=self.gain.view(-1), training=True,
                         momentum=0.0, eps=1e-6).reshape_as(self.conv.weight)
        x = F.conv2d(x, w, self.conv.bias, padding=1)
        wd = F.batch_norm(self.dw.weight.reshape(1, 6, -1), None, None, training=True, momentum=0.0,
                          eps=1e-5).reshape_as(self.dw.weight)
        return F.conv2d(x, wd, groups=6).mean((2, 3))


def test_computed_kernels_train_their_parameters():
    model = StdConv()
    result = _converted(model, (12, 12), (2, 3, 14, 12), 6)
    assert set(keras_weights.to_canonical(result.model)) == set(model.state_dict())


class FourierPositions(torch.nn.Module):
    """EdgeNeXt's positional encoding ops: a boolean mask inverted, cumulative sums, rounded divisions."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        b, _, h, w = x.shape
        not_mask = ~torch.zeros(b, h, w, dtype=torch.bool)
        y = not_mask.cumsum(1, dtype=torch.float32)
        t = torch.div(torch.arange(4, dtype=torch.float32), 2, rounding_mode="floor")
        z = torch.div(y[:, None] - 2.5, 2.0, rounding_mode="trunc")
        return (x * z + t[None, :, None, None]).mean((2, 3))


def test_mask_cumsum_and_rounded_division():
    model = FourierPositions()
    _converted(model, (8, 8), (2, 3, 8, 8), 7)


class Bicubic(torch.nn.Module):
    def __init__(self, size, align_corners):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)
        self.size, self.align_corners = size, align_corners

    def forward(self, x):
        x = F.interpolate(self.conv(x), size=self.size, mode="bicubic", align_corners=self.align_corners)
        return x.flatten(1)


@pytest.mark.parametrize("size,align_corners", [((5, 9), False), ((13, 4), True)])
def test_bicubic_resizing_is_torchs_kernel(size, align_corners):
    model = Bicubic(size, align_corners)
    _converted(model, (8, 7), (2, 3, 8, 7), 8)


class Fmod(torch.nn.Module):
    """Swin's shifted-window mask arithmetic: fmod keeps the dividend's sign (unlike %)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x):
        shift = torch.fmod(torch.arange(-5, 1), 4)  # integers too (Swin's window indices)
        return (torch.fmod(self.conv(x) * 7.0, 3.0) + shift).mean((2, 3))


def test_fmod_keeps_the_dividends_sign():
    model = Fmod()
    _converted(model, (6, 6), (2, 3, 6, 6), 9)


class IndexSelect(torch.nn.Module):
    """A bias table gathered by a fixed index (Swin's relative position bias)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)
        self.table = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 12).reshape(6, 2))
        self.register_buffer("index", torch.tensor([5, 0, 3, 3]), persistent=False)

    def forward(self, x):
        bias = self.table.index_select(0, self.index).sum(1)  # (4,)
        return self.conv(x).mean((2, 3)) + bias


def test_index_select_gathers_along_a_dim():
    _converted(IndexSelect(), (6, 6), (2, 3, 6, 6), 10)


class SharedConv(torch.nn.Module):
    """One convolution under two module paths (CoaT's cpe1 is also serial_blocks1.*.cpe): two names in the
    state_dict, one tensor."""

    def __init__(self):
        super().__init__()
        self.cpe = torch.nn.Conv2d(3, 3, 3, padding=1, groups=3)
        self.blocks = torch.nn.ModuleList([torch.nn.Sequential(self.cpe)])
        self.head = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.head(self.blocks[0](x) + self.cpe(x * 0.5)).mean((2, 3))


def test_shared_parameter_loads_and_saves_under_both_names():
    model = SharedConv()
    assert {"cpe.weight", "blocks.0.0.weight"} <= set(model.state_dict())
    result = _converted(model, (12, 12), (2, 3, 12, 12), 7)
    tensors = keras_weights.to_canonical(result.model)
    assert set(tensors) == set(model.state_dict())  # saved as torch's state_dict lists it
    assert np.array_equal(tensors["cpe.weight"], tensors["blocks.0.0.weight"])
    assert len(result.model.trainable_weights) == 4  # one shared kernel and bias, the head's kernel and bias
    again = conv.from_graph(result.graph)  # the stored graph keeps the second name
    keras_weights.from_canonical(again, tensors)
    x = np.random.default_rng(8).standard_normal((1, 12, 12, 3)).astype(np.float32)
    assert np.array_equal(np.asarray(again(x, training=False)), np.asarray(result.model(x, training=False)))
