"""Every benchmark module imports: ``make bench`` is not run by ``make test``, so a renamed
function in ``chalicelib`` once broke ``bench/edge_cpu.py`` unnoticed until a fresh clone ran
the benchmarks. Importing them is cheap and catches that class of break."""

import importlib
import pkgutil

import pytest

import bench


def _modules():
    for info in pkgutil.walk_packages(bench.__path__, prefix="bench."):
        yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_benchmark_module_imports(name):
    importlib.import_module(name)
