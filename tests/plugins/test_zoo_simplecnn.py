"""The SimpleCNN plugin passes the whole plugin contract (zoo_core.testing.check_architecture), in both frameworks."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")  # torch before TensorFlow

from zoo_core.testing import check_architecture  # noqa: E402


@pytest.mark.parametrize("name", ["simplecnn", "simplecnn_cifar"])
def test_plugin_contract(name):
    report = check_architecture(name)
    assert report.ok and report.frameworks == ("torch", "tf") and len(report.results) == 15
    assert report.result("converter_parity").status == "ok"
    parity = [r for r in report.results if r.check.startswith("logits_parity")]
    assert [r.status for r in parity] == ["ok", "ok"]
