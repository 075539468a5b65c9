"""Contract checks for architecture plugins: every built-in plugin passes them, and so should third-party ones.

    from zoo_core.testing import check_parity
    report = check_parity("my_model", input_size=64)   # raises AssertionError with the numbers if it fails

Each check builds real models in both frameworks; run them in tests (torch imported before TensorFlow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends, factory, models, plugins
from ..checkpoint.io import save
from ..errors import BuildError
from ..frameworks import canonical_framework, is_installed, require
from ..layout import to_layout
from ..parity import ATOL, RTOL, compare, random_batch, randomize, realistic_weights
from ..plugins import ALLOWLIST_ENV
from ..torch2keras import convert as t2k
from ..torch2keras import verify as t2k_verify
from ..training import stages


@dataclass
class ParityReport:
    model: str
    source: str
    target: str
    max_abs: float
    max_rel: float
    max_logit: float
    roundtrip_exact: bool
    tensors: int

    @property
    def ok(self) -> bool:
        return self.max_abs <= ATOL and self.max_rel <= RTOL and self.roundtrip_exact

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check_parity(name: str, source: str = "torch", target: str = "tf", *, input_size: int | tuple | None = None,
                 num_classes: int | None = None, seed: int = 0, through_disk: bool = True,
                 raise_on_failure: bool = True) -> ParityReport:
    """Build ``name`` in ``source`` with randomised weights, move the weights to ``target`` (through a saved
    checkpoint when ``through_disk``), compare the logits, and move them back to check the round trip is bit-exact.
    """
    src_backend, dst_backend = backends.get(source), backends.get(target)
    entry = models.spec_of(factory.load(name, framework="torch", input_size=input_size,
                                       num_classes=num_classes)).entry
    tensors = realistic_weights(entry, seed, batch=random_batch(entry, 2, seed))
    src = models.build(entry, source)
    src_backend.from_canonical(src, tensors)
    if through_disk:
        with tempfile.TemporaryDirectory() as tmp:
            save(src, Path(tmp) / "ckpt")
            dst = factory.load(str(Path(tmp) / "ckpt"), framework=target)
    else:
        dst = models.build(entry, target)
        dst_backend.from_canonical(dst, src_backend.to_canonical(src))
    max_abs, max_rel, scale = compare(src, dst, seed=seed)
    back = models.build(models.spec_of(src).entry, source)
    src_backend.from_canonical(back, dst_backend.to_canonical(dst))
    again = src_backend.to_canonical(back)
    exact = set(again) == set(tensors) and all(
        again[k].dtype == tensors[k].dtype and np.array_equal(again[k], tensors[k]) for k in tensors
    )
    report = ParityReport(name, source, target, max_abs, max_rel, scale, exact, len(tensors))
    if raise_on_failure and not report.ok:
        raise AssertionError(
            f"{name} {source}->{target}: max |Δlogits| {max_abs:.3g} (limit {ATOL}), relative {max_rel:.3g} "
            f"(limit {RTOL}) at logits up to {scale:.3g}; bit-exact round trip: {exact}"
        )
    return report


def check_stage_patterns(name: str, framework: str = "torch") -> None:
    """Every canonical tensor belongs to exactly one stage."""
    model = factory.load(name, framework=framework)
    arch = models.get_architecture(models.spec_of(model).entry)
    for key in backends.get(framework).to_canonical(model):
        owners = [s for s, pats in arch.stage_patterns.items() if any(fnmatchcase(key, p) for p in pats)]
        if len(owners) != 1:
            raise AssertionError(f"{name}: tensor {key!r} belongs to {len(owners)} stages {owners}; expected one")


def check_stage_coverage(arch: Any, keys: Any, *, where: str = "") -> None:
    """Every canonical key in ``keys`` matches the patterns of exactly one stage of ``arch``."""
    for key in keys:
        owners = [s for s, pats in arch.stage_patterns.items() if any(fnmatchcase(key, p) for p in pats)]
        if len(owners) != 1:
            how = "no stage" if not owners else f"{len(owners)} stages {owners}"
            raise AssertionError(
                f"{where}tensor {key!r} belongs to {how}; expected exactly one: fix "
                f"Architecture(stage_patterns=...) of {arch.name!r} in your register_architectures hook"
            )


# ------------------------------------------------------------------------------------------ the plugin contract
# check_architecture runs every check a plugin author needs, each one failing with the hook or builder to fix.

FRAMEWORK_MODULES = ("torch", "torchvision", "timm", "tensorflow", "keras", "triton")
CHECKS = ("registered", "plugin_import", "build", "output_shape", "param_parity", "canonical_names", "save_load",
          "logits_parity", "converter_parity", "stages")


class ContractError(AssertionError):
    """An architecture broke the plugin contract; the message lists each failed check and what to fix."""


@dataclass
class CheckResult:
    check: str  # e.g. "build[tf]"
    status: str  # "ok", "failed" or "skipped"
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ContractReport:
    """What ``check_architecture`` found: one result per check (and framework)."""

    model: str
    architecture: str
    frameworks: tuple[str, ...]
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    def result(self, check: str) -> CheckResult:
        return next(r for r in self.results if r.check == check)

    def summary(self) -> str:
        lines = [f"{self.model} (architecture {self.architecture!r}, frameworks {', '.join(self.frameworks) or '-'}):"]
        for r in self.results:
            lines.append(f"  {r.status:<7} {r.check:<22} {r.detail}".rstrip())
        return "\n".join(lines)


def _builder_ref(arch: Any, fw: str) -> str:
    target = arch.builders.get(fw)
    ref = target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))
    return f"the {fw} builder {ref!r} of architecture {arch.name!r}"


def _plugin_of(arch_name: str) -> tuple[Any, str | None]:
    """(PluginInfo, importable module name or None) of the plugin that registered ``arch_name``."""
    st = plugins.state()
    pname = st.provider.get(arch_name)
    if pname is None:
        return None, None
    mod_name = getattr(st.manager.get_plugin(pname), "__name__", None)
    return st.plugins[pname], mod_name if mod_name in sys.modules else None


def _resolve_model(name: str) -> tuple[Any, Any]:
    """(registry entry, architecture) for a model name or an architecture name; raises with the hook to fix."""
    entry = models.catalogue().find(name)
    arch = plugins.get_architecture(entry.architecture if entry else name)
    if arch is None:
        wanted = entry.architecture if entry else name
        failed = [p for p in plugins.list_plugins() if not p.ok]
        why = "".join(f"; plugin {p.label} failed: {p.error}" for p in failed)
        raise ContractError(
            f"architecture {wanted!r} is not registered: implement the register_architectures(register) hook in "
            f"your plugin module (found through the 'zoo' entry-point group) and call "
            f"register(zoo_core.Architecture(name={wanted!r}, ...)){why}"
        )
    if entry is None:
        entries = [e for e in models.catalogue().all_entries() if e.architecture == arch.name]
        if not entries:
            raise ContractError(
                f"architecture {arch.name!r} has no model in the registry: return a YAML file with a model of "
                f"architecture {arch.name!r} from the registry_files() hook (schema: docs/registry.md)"
            )
        entry = entries[0]
    return entry, arch


def check_plugin_import(module: str, architecture: str, plugin: str | None = None) -> list[str]:
    """Import a plugin module and load it (only it, when ``plugin`` names its entry point) in a fresh interpreter;
    return the frameworks that got imported (the contract: none). Raises ContractError if the import or the
    registration fails there."""
    code = textwrap.dedent(f"""
        import importlib, json, sys
        import zoo_core
        from zoo_core import plugins
        importlib.import_module({module!r})
        assert {architecture!r} in plugins.architectures(), "not registered in a fresh process"
        zoo_core.list_models()
        print("ZOO_LOADED " + json.dumps([m for m in {FRAMEWORK_MODULES!r} if m in sys.modules]))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if plugin:
        env[ALLOWLIST_ENV] = plugin  # other installed plugins are not under test
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise ContractError(f"importing plugin module {module!r} in a fresh process failed: {tail[0]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("ZOO_LOADED "))
    return json.loads(line.removeprefix("ZOO_LOADED "))


def _installed_frameworks(arch: Any) -> tuple[str, ...]:
    return tuple(fw for fw in arch.frameworks if is_installed(fw))


def check_architecture(name: str, frameworks: tuple[str, ...] | list[str] | None = None, *,
                       input_size: int | tuple[int, int] | None = None, num_classes: int = 5,
                       checks: tuple[str, ...] | list[str] | None = None,
                       raise_on_failure: bool = True) -> ContractReport:
    """Run the plugin contract on a registered model (or the first model of an architecture).

    Checks, each per framework where it applies: ``registered`` (the hooks registered the architecture and a
    model), ``plugin_import`` (importing the plugin module imports no framework; a fresh process), ``build``,
    ``output_shape`` ((2, num_classes), finite), ``param_parity`` (equal learnable parameter counts),
    ``canonical_names`` (equal canonical tensor names and shapes), ``save_load`` (a saved checkpoint loads
    bit-exact in the same framework), ``logits_parity`` (through a checkpoint, both directions, max |Δlogits| <=
    1e-4 and a bit-exact round trip, see ``check_parity``), ``converter_parity`` (a hand-written tf builder and the
    converted torch builder agree on the same weights; skipped when the tf builder is the converter), ``stages``
    (every tensor in exactly one stage, and ``freeze(until=stage)`` freezes exactly the stages up to it).
    ``frameworks`` defaults to every framework the architecture builds in that is installed (a torch builder
    alone gives tf through the converter); keep ``input_size`` small for speed. Raises ``ContractError`` naming
    every failed check and the hook or builder to fix (or returns the report with ``raise_on_failure=False``).
    """
    __tracebackhide__ = True  # pytest shows the ContractError, not the kit's internals

    wanted = tuple(checks or CHECKS)
    unknown = sorted(set(wanted) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {', '.join(CHECKS)}")
    results: list[CheckResult] = []
    report = ContractReport(name, "?", (), results)

    @contextmanager
    def check(label: str):
        start = time.perf_counter()
        res = CheckResult(label, "ok")
        results.append(res)
        try:
            yield res
        except AssertionError as exc:  # ContractError included
            res.status, res.detail = "failed", str(exc)
        except Exception as exc:
            res.status, res.detail = "failed", f"{type(exc).__name__}: {exc}"
        res.seconds = time.perf_counter() - start

    def skip(label: str, why: str) -> None:
        results.append(CheckResult(label, "skipped", why))

    def finish() -> ContractReport:
        __tracebackhide__ = True
        if raise_on_failure and not report.ok:
            lines = [f"{name}: {len(report.failures)} contract check(s) failed:"]
            lines += [f"- {r.check}: {r.detail}" for r in report.failures]
            raise ContractError("\n".join(lines))
        return report

    entry = arch = None
    with check("registered") as res:
        entry, arch = _resolve_model(name)
        res.detail = f"model {entry.name!r} ({entry.source})"
    if arch is None:
        return finish()
    report.model, report.architecture = entry.name, arch.name
    fws = tuple(canonical_framework(f) for f in frameworks) if frameworks else _installed_frameworks(arch)
    fws = tuple(sorted(set(fws), key=("torch", "tf").index))  # torch before TensorFlow (tensorflow#124205)
    report.frameworks = fws
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size or entry.input_size)

    if "plugin_import" in wanted:
        info, module = _plugin_of(arch.name)
        if module is None:
            skip("plugin_import", "registered in-process (no importable plugin module)")
        else:
            with check("plugin_import") as res:
                loaded = check_plugin_import(module, arch.name, info.name)
                if loaded:
                    raise ContractError(
                        f"importing plugin module {module!r} imported {', '.join(loaded)}: import frameworks inside "
                        f"the builders ({', '.join(map(str, arch.builders.values()))}), never at the top of the "
                        "plugin module or in its hooks"
                    )
                res.detail = f"plugin {info.label}: importing {module} imports no framework"

    built: dict[str, Any] = {}
    for fw in fws:
        with check(f"build[{fw}]") as res:
            if fw not in arch.builders:
                raise ContractError(
                    f"architecture {arch.name!r} has no {fw} builder: add {fw!r}: 'module:function' to "
                    f"Architecture(builders=...) in your register_architectures hook"
                )
            if not is_installed(fw):
                try:
                    require(fw)  # its error names the extra to install
                except Exception as exc:
                    raise ContractError(f"{exc}; or check other frameworks with frameworks=") from None
            try:
                model = models.build(entry, fw, num_classes=num_classes, input_size=size)
            except Exception as exc:
                if isinstance(exc, BuildError) and exc.__cause__ is not None:  # the plugin's own exception
                    exc = exc.__cause__
                raise ContractError(f"{_builder_ref(arch, fw)} failed: {type(exc).__name__}: {exc}") from exc
            if backends.framework_of(model) != fw:
                raise ContractError(f"{_builder_ref(arch, fw)} returned a {type(model).__name__}, not a {fw} model")
            built[fw] = model
            res.detail = f"{type(model).__name__}, {backends.get(fw).count_params(model):,} parameters" + \
                (" (converted from the torch builder)" if fw == "tf" and arch.converted else "")

    batch = np.random.default_rng(0).standard_normal((2, entry.in_chans, *size)).astype(np.float32)
    if "output_shape" in wanted:
        for fw, model in built.items():
            with check(f"output_shape[{fw}]") as res:
                x = to_layout(batch, fw, source="NCHW")
                out = backends.get(fw).predict(model, x)
                layout = "NCHW" if fw == "torch" else "NHWC"
                if tuple(out.shape) != (2, num_classes):
                    raise ContractError(
                        f"{_builder_ref(arch, fw)} returned a model whose output for a {layout} batch of shape "
                        f"{x.shape} has shape {tuple(out.shape)}, expected (2, {num_classes}): "
                        "build from spec.num_classes, spec.in_chans and spec.input_size"
                    )
                if not np.isfinite(out).all():
                    raise ContractError(f"{_builder_ref(arch, fw)}: the freshly built model outputs NaN or inf")
                res.detail = f"{tuple(out.shape)}"

    both = len(built) == 2
    if "param_parity" in wanted and both:
        with check("param_parity") as res:
            counts = {fw: backends.get(fw).count_params(m) for fw, m in built.items()}
            if counts["torch"] != counts["tf"]:
                raise ContractError(
                    f"the torch builder has {counts['torch']:,} learnable parameters, the tf builder "
                    f"{counts['tf']:,}: {_builder_ref(arch, 'torch')} and {_builder_ref(arch, 'tf')} must build the "
                    "same network"
                )
            res.detail = f"{counts['torch']:,} in both"

    canon: dict[str, dict[str, np.ndarray]] = {}
    if "canonical_names" in wanted and both:
        with check("canonical_names") as res:
            for fw, m in built.items():
                canon[fw] = backends.get(fw).to_canonical(m)
            shapes = {fw: {k: tuple(v.shape) for k, v in t.items()} for fw, t in canon.items()}
            only_t = sorted(set(shapes["torch"]) - set(shapes["tf"]))
            only_k = sorted(set(shapes["tf"]) - set(shapes["torch"]))
            if only_t or only_k:
                raise ContractError(
                    f"canonical tensor names differ: only in torch {only_t[:5]}, only in tf {only_k[:5]}: in "
                    f"{_builder_ref(arch, 'tf')} name every Keras layer with weights after the torch module path "
                    "it mirrors (e.g. 'layer1.0.conv1'), or give the layer zoo_bindings()"
                )
            bad = [(k, shapes["torch"][k], shapes["tf"][k]) for k in shapes["torch"] if shapes["torch"][k] !=
                   shapes["tf"][k]]
            if bad:
                raise ContractError(f"tensor shapes differ (name, torch, tf): {bad[:3]}: "
                                    f"fix {_builder_ref(arch, 'tf')}")
            res.detail = f"{len(shapes['torch'])} tensors"

    if "save_load" in wanted:
        for fw, model in built.items():
            with check(f"save_load[{fw}]") as res:
                res.detail = _check_save_load(model, fw, batch)

    if "logits_parity" in wanted and both:
        for src, dst in (("torch", "tf"), ("tf", "torch")):
            with check(f"logits_parity[{src}->{dst}]") as res:
                try:
                    r = check_parity(entry.name, src, dst, input_size=size, num_classes=num_classes)
                except AssertionError as exc:
                    raise ContractError(
                        f"{exc}: the builders compute different functions with the same weights; follow the Keras "
                        f"numerics rules (zoo_core.backends.keras_layers) in {_builder_ref(arch, 'tf')}"
                    ) from None
                res.detail = f"max |Δlogits| {r.max_abs:.2g} ({r.max_rel:.2g} relative), round trip bit-exact"

    if "converter_parity" in wanted and both:
        if arch.converted:
            skip("converter_parity", "the tf builder is the converter (logits_parity checks it)")
        else:
            with check("converter_parity") as res:
                res.detail = _check_converter(models.spec_of(built["torch"]).entry, arch)

    if "stages" in wanted:
        for fw, model in built.items():
            with check(f"stages[{fw}]") as res:
                res.detail = _check_stages(model, fw, arch)
    return finish()


def _check_converter(entry: Any, arch: Any) -> str:
    """The hand-written tf builder and the converter (torch builder -> Keras) agree: same canonical tensors, logits
    within the converter's limit (1e-4 relative) on the same realistic weights."""
    tb, kb = backends.get("torch"), backends.get("tf")
    batch = random_batch(entry, 2, 0)
    tensors = realistic_weights(entry, 0, batch=batch)
    torch_model = models.build(entry, "torch")
    tb.from_canonical(torch_model, tensors)
    hand = models.build(entry, "tf")
    kb.from_canonical(hand, tensors)
    start = time.perf_counter()
    try:
        converted = t2k.convert(torch_model, tuple(entry.input_size), entry.in_chans).model
    except Exception as exc:
        raise ContractError(f"the converter cannot build the Keras model of {_builder_ref(arch, 'torch')}: "
                            f"{type(exc).__name__}: {exc}") from None
    seconds = time.perf_counter() - start
    names = set(kb.to_canonical(converted)), set(tensors)
    if names[0] != names[1]:
        raise ContractError(f"the converted Keras model has other tensors than {_builder_ref(arch, 'tf')}: only "
                            f"converted {sorted(names[0] - names[1])[:5]}, only hand-written "
                            f"{sorted(names[1] - names[0])[:5]}")
    x = to_layout(batch, "tf", source="NCHW")
    a, b = kb.predict(hand, x), kb.predict(converted, x)
    scale = max(float(np.max(np.abs(a))), 1e-12)
    rel = float(np.max(np.abs(a - b))) / scale
    if not rel <= t2k_verify.RTOL:
        raise ContractError(f"{_builder_ref(arch, 'tf')} and the converted {_builder_ref(arch, 'torch')} give "
                            f"other logits for the same weights ({rel:.3g} relative, limit {t2k_verify.RTOL:g}): "
                            "one of them is "
                            "wrong; logits_parity tells which")
    return f"hand-written and converted Keras models agree to {rel:.2g} relative (converted in {seconds:.1f} s)"


def _check_save_load(model: Any, fw: str, batch: np.ndarray) -> str:
    be = backends.get(fw)
    be.from_canonical(model, randomize(be.to_canonical(model)))
    before = be.to_canonical(model)
    with tempfile.TemporaryDirectory() as tmp:
        save(model, Path(tmp) / "ckpt")
        loaded = factory.load(str(Path(tmp) / "ckpt"), framework=fw)
    after = be.to_canonical(loaded)
    changed = [k for k in before if k not in after or after[k].dtype != before[k].dtype
               or not np.array_equal(after[k], before[k])]
    if changed or set(after) != set(before):
        raise ContractError(f"save then load in {fw} changed tensors {changed[:5]} (or the key set): "
                            "the architecture's canonical weights must round-trip; check its Keras layer names "
                            "and zoo_bindings()")
    a = be.predict(model, to_layout(batch, fw, source="NCHW"))
    b = be.predict(loaded, to_layout(batch, fw, source="NCHW"))
    if not np.allclose(a, b, rtol=0, atol=1e-6, equal_nan=True):
        raise ContractError(f"the model loaded in {fw} gives other logits than the saved one "
                            f"(max |Δ| {float(np.nanmax(np.abs(a - b))):.3g}) though every tensor is equal")
    return f"{len(before)} tensors bit-exact"


def _check_stages(model: Any, fw: str, arch: Any) -> str:
    keys = backends.get(fw).to_canonical(model)
    check_stage_coverage(arch, keys, where=f"{fw}: ")
    learnable = [s for s, n, _ in stages.trainable_summary(model) if n]
    for stage in arch.stages[:-1]:
        frozen = stages.freeze(model, until=stage)
        expect = list(arch.stages[:arch.stages.index(stage) + 1])
        rows = {s: t for s, n, t in stages.trainable_summary(model) if n}
        wrong = [s for s in rows if rows[s] == (s in expect)]
        stages.unfreeze(model)
        if frozen != expect or wrong:
            raise ContractError(f"{fw}: freeze(until={stage!r}) left stages {wrong} in the wrong state: check "
                                "Architecture(stages=..., stage_patterns=...) in your register_architectures hook")
    return f"{len(arch.stages)} stages ({', '.join(learnable)} hold parameters)"
