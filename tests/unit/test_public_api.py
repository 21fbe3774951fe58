"""The declared public API of ``import partita``: pinned, so a change to it is deliberate."""

from __future__ import annotations

import tomllib
from pathlib import Path

import partita

PUBLIC_API = [
    "AndJoin",
    "BuildAudience",
    "Campaign",
    "CampaignBuilder",
    "Combine",
    "Condition",
    "Deduplication",
    "End",
    "Engine",
    "Fork",
    "InvalidInput",
    "Limit",
    "PartitaError",
    "Problem",
    "Project",
    "Split",
    "Subset",
    "TestActivity",
    "Transition",
    "Variable",
    "__version__",
    "execution_report",
    "load_campaign",
    "load_project",
    "open_project",
    "parse_campaign",
]


def test_all_is_sorted_and_pinned() -> None:
    assert partita.__all__ == sorted(partita.__all__)
    assert partita.__all__ == PUBLIC_API


def test_every_exported_name_resolves_to_partita_code() -> None:
    for name in partita.__all__:
        assert hasattr(partita, name), name
        if name == "__version__":
            continue
        member = getattr(partita, name)
        assert callable(member), name
        assert member.__module__.startswith("partita"), (name, member.__module__)


def test_star_import_gives_exactly_the_public_api() -> None:
    namespace: dict[str, object] = {}
    exec("from partita import *", namespace)
    exported = sorted(k for k in namespace if k != "__builtins__")
    assert exported == sorted(PUBLIC_API)


def test_version_matches_the_package_metadata() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    assert partita.__version__ == version
