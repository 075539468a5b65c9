"""The plugin contract kit: the checks every architecture plugin's tests run (``check_architecture``).

Layer 5: imported by tests only, never by the zoo's runtime code. The numerics it uses (realistic weights,
``compare``) live in ``zoo_core.parity`` and are re-exported here for plugin authors.

    from zoo_core.testing import check_parity
    report = check_parity("my_model", input_size=64)   # raises AssertionError with the numbers if it fails
"""

from __future__ import annotations

from ..parity import ATOL, RTOL, compare, random_batch, randomize, realistic_weights
from .contract import (
    CHECKS,
    FRAMEWORK_MODULES,
    CheckResult,
    ContractError,
    ContractReport,
    ParityReport,
    check_architecture,
    check_parity,
    check_plugin_import,
    check_stage_coverage,
    check_stage_patterns,
)

__all__ = [
    "ATOL", "CHECKS", "FRAMEWORK_MODULES", "RTOL", "CheckResult", "ContractError", "ContractReport", "ParityReport",
    "check_architecture", "check_parity", "check_plugin_import", "check_stage_coverage", "check_stage_patterns",
    "compare", "random_batch", "randomize", "realistic_weights",
]
