"""House rules that keep the core testable without Prefect."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

CORE = ["flows/stages", "warehouse", "alerts", "flows/harvest.py", "flows/settings.py"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_stages_warehouse_and_alerts_do_not_import_prefect() -> None:
    files = [p for c in CORE for p in ((ROOT / c).rglob("*.py") if (ROOT / c).is_dir()
                                       else [ROOT / c])]
    assert len(files) > 10
    offenders = [str(p.relative_to(ROOT)) for p in files if "prefect" in _imports(p)]
    assert offenders == []


def test_seed_corpus_ships_inside_the_project() -> None:
    seeds = sorted((ROOT / "warehouse" / "seeds").glob("*.txt"))
    assert len(seeds) == 5
    shared = ROOT.parent / "shared" / "seeds"
    if shared.exists():
        assert [p.name for p in seeds] == sorted(p.name for p in shared.glob("*.txt"))
