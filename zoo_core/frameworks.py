"""Framework names, aliases, and what to install for each. Imports no framework."""

from __future__ import annotations

import importlib.util

from .errors import FrameworkNotInstalledError, UnknownFrameworkError

FRAMEWORKS: tuple[str, ...] = ("torch", "tf")

ALIASES: dict[str, str] = {
    "torch": "torch",
    "pytorch": "torch",
    "pt": "torch",
    "tf": "tf",
    "tensorflow": "tf",
    "keras": "tf",
}

# framework -> (modules that must be importable, the pip extra that installs them)
REQUIREMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch", "timm"), "torch"),
    "tf": (("tensorflow", "keras"), "tf"),
}


def canonical_framework(name: str) -> str:
    """Map a framework name or alias (pytorch, tensorflow, keras, ...) to ``torch`` or ``tf``."""
    key = str(name).strip().lower()
    if key not in ALIASES:
        valid = ", ".join(sorted(ALIASES))
        raise UnknownFrameworkError(f"unknown framework {name!r}; valid names are: {valid}")
    return ALIASES[key]


def is_installed(framework: str) -> bool:
    modules, _ = REQUIREMENTS[canonical_framework(framework)]
    return all(importlib.util.find_spec(m) is not None for m in modules)


def require(framework: str) -> str:
    """Return the canonical framework name, or raise with the extra to install if it is missing."""
    fw = canonical_framework(framework)
    modules, extra = REQUIREMENTS[fw]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise FrameworkNotInstalledError(
            f"framework {fw!r} needs {', '.join(missing)}, which is not installed; "
            f"install it with: pip install 'zoo[{extra}]'"
        )
    return fw
