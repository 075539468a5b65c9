"""The docs are executed: every ```python and ```bash block of docs/*.md runs, in order, in a fresh temporary
directory (python blocks share one interpreter per page, like a notebook; bash blocks run in between with the venv's
`zoo` and `python` first on PATH). A block meant only to be read is marked ```python no-run (or bash no-run).
Pages that push or pull get a local Hub server (tests.hub_server) through HF_ENDPOINT and HF_TOKEN.
Also: every `zoo` command has a section in docs/cli.md, every registry field is in docs/registry.md, and
docs/writing-a-plugin.md quotes the hook specs' docstrings as they are."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_server import HubServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```([A-Za-z]*)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
RUNNABLE = ("python", "bash")
DOCS_TOKEN = "hf_docs_token"


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """(language, code, first line of the code) of each block of ``path`` that runs."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        lang, flags, code = m.group(1), m.group(2).split(), m.group(3)
        if lang in RUNNABLE and "no-run" not in flags:
            out.append((lang, code, text.count("\n", 0, m.start(3)) + 1))
    return out


def driver(path: Path) -> str:
    """One Python script running the page's blocks in order; tracebacks point at the page's own lines."""
    rel = str(path.relative_to(ROOT))
    parts = ["import subprocess as _sp\n_ns = {'__name__': '__main__'}\n"]
    for lang, code, line in blocks(path):
        if lang == "python":
            src = "\n" * (line - 1) + code
            parts.append(f"exec(compile({src!r}, {rel!r}, 'exec'), _ns)\n")
        else:
            where = f"{rel}:{line}: bash block exited with "
            parts.append(f"_r = _sp.run(['bash', '-euo', 'pipefail', '-c', {code!r}])\n"
                         f"if _r.returncode:\n    raise SystemExit({where!r} + str(_r.returncode))\n")
    return "".join(parts)


@pytest.fixture(scope="module")
def hub_url():
    server = HubServer(tokens={DOCS_TOKEN: "alice"})
    server.start()
    yield server.url
    server.stop()


def _env(tmp: Path, hub_url: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "ZOO_"))}
    home = tmp / ".hf"
    home.mkdir(exist_ok=True)
    (home / ".agent_harnesses.json").write_text(json.dumps({"standardEnvVars": [], "harnesses": {}}))
    return {**keep, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{keep.get('PATH', '')}",
            "HF_ENDPOINT": hub_url, "HF_TOKEN": DOCS_TOKEN, "HF_HOME": str(home), "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "MPLBACKEND": "Agg",
            "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


# Pages whose examples cannot run here yet, with the reason; shown as skipped, so the gap stays visible.
NOT_RUN_YET: dict[str, str] = {}  # page name -> why its blocks cannot run yet (skipped, with the reason)


def _pages() -> list:
    return [pytest.param(p, marks=pytest.mark.skip(reason=f"docs/{p.name}: {NOT_RUN_YET[p.name]}"))
            if p.name in NOT_RUN_YET else p for p in DOCS if blocks(p)]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_page_runs(page, tmp_path, hub_url):
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-c", driver(page)], cwd=work, env=_env(tmp_path, hub_url),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{page.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"


def test_runner_reports_the_failing_line(tmp_path, hub_url):
    page = ROOT / "docs" / "__runner_check__.md"
    try:
        page.write_text("x\n\n```python\na = 1\n```\n\n```bash no-run\nexit 3\n```\n\n```bash\nexit 4\n```\n")
        assert [lang for lang, _, _ in blocks(page)] == ["python", "bash"]
        proc = subprocess.run([sys.executable, "-c", driver(page)], cwd=tmp_path, capture_output=True, text=True,
                              env=_env(tmp_path, hub_url))
        assert proc.returncode == 1 and "docs/__runner_check__.md:12: bash block exited with 4" in proc.stderr
        page.write_text("x\n\n```python\nimport zoo_core\n\nzoo_core.load('no_such_model')\n```\n")
        proc = subprocess.run([sys.executable, "-c", driver(page)], cwd=tmp_path, capture_output=True, text=True,
                              env=_env(tmp_path, hub_url))
        assert 'File "docs/__runner_check__.md", line 6' in proc.stderr and "unknown model" in proc.stderr
    finally:
        page.unlink(missing_ok=True)


def test_every_command_has_a_section_in_cli_md():
    from zoo_core.cli import app

    app.build_parser()
    text = (ROOT / "docs" / "cli.md").read_text()
    sections = set(re.findall(r"^## `?zoo ([a-z-]+)", text, re.M))
    missing = sorted(set(app._COMMANDS) - sections)
    assert not missing, f"docs/cli.md has no '## zoo <command>' section for: {', '.join(missing)}"
    for name in app._COMMANDS:  # and each section shows the command being run
        body = re.split(rf"^## zoo {name}[ \t]*$", text, maxsplit=1, flags=re.M)[1].split("\n## ", 1)[0]
        assert re.search(rf"^zoo {name}\b", body, re.M), f"docs/cli.md: the 'zoo {name}' section has no example"


def test_every_registry_field_is_documented():
    from zoo_core.catalog import ModelEntry, WeightsSpec, field_names

    text = (ROOT / "docs" / "registry.md").read_text()
    fields = [f for f in field_names(ModelEntry) if f not in ("name", "source")]
    fields += [f"weights.{f}" for f in field_names(WeightsSpec)]
    missing = [f for f in fields if f"`{f}`" not in text]
    assert not missing, f"docs/registry.md does not document: {missing}"


def test_writing_a_plugin_quotes_the_hook_specs():
    from zoo_core import hookspecs

    text = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    for name in ("register_architectures", "registry_files", "register_trackers"):
        doc = inspect.getdoc(getattr(hookspecs, name))
        assert doc in text, f"docs/writing-a-plugin.md does not quote the docstring of hook {name} as it is now"
