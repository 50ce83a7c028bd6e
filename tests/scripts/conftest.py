"""Tests of scripts/: the benchmarks and tools beside the package import from scripts/ as their scripts do."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))


@pytest.fixture(scope="session")
def quick_results(tmp_path_factory) -> Path:
    """`scripts/make_results.py --quick`, run once for every test that reads its output: the page, its JSON
    sources, and (under work/) the intermediate data, the downstream benchmark's among them."""
    import make_results

    out = tmp_path_factory.mktemp("quick-results")
    make_results.main(["--quick", "--out", str(out), "--workdir", str(out / "work")])
    return out
