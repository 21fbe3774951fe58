"""The declared public API of ``import partita``: pinned, so a change to it is deliberate."""

from __future__ import annotations

import tomllib
from pathlib import Path

import partita
import partita.channels as channels

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


#: ``partita.channels``: what activities and extensions build on (rendering, exclusions,
#: ledger, providers, tracking); pinned like the top-level API.
CHANNELS_API = [
    "DELIVERIES_TABLE",
    "EVENTS_TABLE",
    "PROVIDER_KINDS",
    "REASONS",
    "SUPPRESSIONS",
    "ChannelProvider",
    "Click",
    "DeliveryHistory",
    "EmailMessage",
    "ExclusionRules",
    "FatalError",
    "FcmPushProvider",
    "InDoubtError",
    "JsonSmsProvider",
    "Ledger",
    "OutboxProvider",
    "PermanentError",
    "Provider",
    "ProviderError",
    "PushMessage",
    "Recipient",
    "SendResult",
    "SmsMessage",
    "SmtpProvider",
    "Template",
    "TemplateError",
    "TokenError",
    "TokenSigner",
    "Tracking",
    "TransientError",
    "TwilioSmsProvider",
    "WebhookProvider",
    "WebhookRequest",
    "add_open_pixel",
    "build_provider",
    "check_templates",
    "compile_template",
    "count_reasons",
    "html_to_text",
    "idempotency_key",
    "message_id",
    "message_variables",
    "mime_bytes",
    "normalize_phone",
    "provider_problem",
    "retry",
    "rewrite_links",
    "suppressions",
    "sync_suppressions",
    "template_variables",
    "to_mime",
    "tracking_of",
    "usable_address",
    "valid_email",
    "with_reasons",
]


def test_channels_api_is_pinned_and_resolves() -> None:
    assert channels.__all__ == CHANNELS_API
    for name in channels.__all__:
        member = getattr(channels, name)
        if callable(member):
            assert member.__module__.startswith("partita.channels"), (name, member.__module__)


def test_a_channel_worker_loads_neither_the_warehouse_nor_the_store() -> None:
    """The worker processes of a large send import ``partita.channels._sending`` only: none of
    Ibis, DuckDB, PyArrow, SQLAlchemy (each worker would hold them: ~150 MB)."""
    import subprocess
    import sys

    heavy = ["ibis", "duckdb", "pyarrow", "sqlalchemy", "sqlglot"]
    code = (
        "import sys, partita.channels._sending\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
