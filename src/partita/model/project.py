"""The project file ``partita.yaml``: connections, data model, channels, retention."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from partita.model.activities.channels import FrequencyCap
from partita.model.datamodel import Dimension, Link
from partita.model.problems import InvalidInput, Problem
from partita.model.pydantic_problems import problems_from_validation
from partita.model.yamlio import Document, load_yaml

PROJECT_FILE = "partita.yaml"
#: ``${NAME}`` in a setting: replaced by the environment variable NAME.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: The shortest tracking secret accepted, in bytes (UTF-8).
MIN_SECRET_BYTES = 16


class Retention(BaseModel):
    """How long working tables are kept."""

    model_config = ConfigDict(extra="forbid")

    executions: int = Field(
        default=5,
        ge=0,
        description="keep the working tables of the last N executions of each campaign",
    )


class Project(BaseModel):
    """A Partita project, as declared in ``partita.yaml``."""

    model_config = ConfigDict(extra="forbid")

    warehouse: str = Field(
        description="Ibis connection URL of the data (duckdb:///shop.duckdb, postgres://…)"
    )
    state: str = Field(
        default="sqlite:///.partita/state.db", description="SQLAlchemy URL of the state store"
    )
    working_schema: str = Field(
        default="partita_work", description="schema that holds working tables"
    )
    work_database: str | None = Field(
        default=None,
        description="DuckDB only: file that holds working tables (default .partita/work.duckdb); "
        "the data file is attached read-only",
    )
    frequency_caps: dict[Literal["email", "sms", "push", "webhook"], FrequencyCap] = Field(
        default_factory=dict,
        description="marketing messages per channel and recipient: {email: {max: 3, days: 7}}; "
        "an activity's own frequency_cap wins",
    )
    tracking_url: str | None = Field(
        default=None,
        description="base URL of the tracking server (partita serve): click redirects, the "
        "open pixel and unsubscribe links of emails go through it",
    )
    tracking_secret_env: str = Field(
        default="PARTITA_TRACKING_SECRET",
        pattern=_ENV_NAME,
        description="environment variable holding the secret tracking tokens are signed with",
    )
    feedback_token_env: str = Field(
        default="PARTITA_FEEDBACK_TOKEN",
        pattern=_ENV_NAME,
        description="environment variable holding the bearer token of the feedback API",
    )
    dimensions: dict[str, Dimension] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    retention: Retention = Field(default_factory=Retention)

    _root: Path = PrivateAttr(default_factory=Path.cwd)
    _tracking_secret: str | None = PrivateAttr(default=None)
    _feedback_token: str | None = PrivateAttr(default=None)

    @field_validator("tracking_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("https://", "http://")):
            raise ValueError("must start with https:// or http:// (e.g. https://t.example.com)")
        return value

    @property
    def tracking_secret(self) -> str | None:
        """The secret tracking tokens are signed with, read from the environment variable
        ``tracking_secret_env`` when the project was loaded (never written in the file)."""
        return self._tracking_secret

    @property
    def feedback_token(self) -> str | None:
        """The bearer token of the feedback API, from ``feedback_token_env`` (None: unset)."""
        return self._feedback_token

    @property
    def root(self) -> Path:
        """The folder holding ``partita.yaml``; relative paths in URLs start here."""
        return self._root

    def resolve(self, relative: str) -> Path:
        """A path of the project (``.partita/state.db``) as an absolute path."""
        path = Path(relative)
        return path if path.is_absolute() else self._root / path

    def problems(self) -> list[Problem]:
        """Consistency of dimensions and links (the warehouse check comes later)."""
        found: list[Problem] = []
        for link in self.links:
            for end in (link.source, link.target):
                if end not in self.dimensions:
                    found.append(
                        Problem(
                            f"link '{link.name}' names unknown dimension '{end}'",
                            field="links",
                            hint="declare it under 'dimensions'",
                        )
                    )
        return found


def _substitute_env(
    value: Any, path: Sequence[str | int], missing: list[tuple[str, tuple[str | int, ...]]]
) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                missing.append((name, tuple(path)))
                return ""
            return os.environ[name]

        return ENV_REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {k: _substitute_env(v, [*path, k], missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, [*path, i], missing) for i, v in enumerate(value)]
    return value


def parse_project(text: str, file: str = PROJECT_FILE, root: Path | None = None) -> Project:
    """Parse project YAML text; every problem is reported with its line."""
    document = load_yaml(text, file=file, subject=file)
    return project_from_data(document, root=root)


def project_from_data(document: Document, root: Path | None = None) -> Project:
    """Build a :class:`Project` from parsed YAML, substituting ``${VAR}`` from the environment."""
    data = document.data
    if not isinstance(data, dict):
        raise InvalidInput(
            [Problem("the project file must be a mapping", file=document.file)], document.file or ""
        )
    missing: list[tuple[str, tuple[str | int, ...]]] = []
    data = _substitute_env(data, [], missing)
    problems = [
        Problem(
            f"environment variable '{name}' is not set",
            field=".".join(map(str, path)),
            file=document.file,
            line=document.place(path)[0],
            hint="export it before running partita",
        )
        for name, path in missing
    ]
    if problems:
        raise InvalidInput(problems, subject=document.file or PROJECT_FILE)
    for name, dim in (data.get("dimensions") or {}).items():
        if isinstance(dim, dict):
            dim.setdefault("name", name)
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            problems_from_validation(exc, document, model_at=_project_model_at),
            subject=document.file or PROJECT_FILE,
        ) from None
    if root is not None:
        project._root = root
    found = project.problems() + _read_secrets(project, document)
    if found:
        raise InvalidInput(found, subject=document.file or PROJECT_FILE)
    return project


def _read_secrets(project: Project, document: Document) -> list[Problem]:
    """Take the tracking secret and the feedback token from the environment; a problem when
    tracking is configured without a usable secret."""
    project._tracking_secret = os.environ.get(project.tracking_secret_env) or None
    project._feedback_token = os.environ.get(project.feedback_token_env) or None
    if project.tracking_url is None:
        return []
    name = project.tracking_secret_env
    secret = project._tracking_secret
    if secret is not None and len(secret.encode("utf-8")) >= MIN_SECRET_BYTES:
        return []
    what = "is not set" if secret is None else f"holds fewer than {MIN_SECRET_BYTES} bytes"
    return [
        Problem(
            f"tracking_url is set but environment variable '{name}' (the tracking secret, "
            f"see tracking_secret_env) {what}",
            field="tracking_url",
            file=document.file,
            line=document.place(("tracking_url",))[0],
            hint=f"export {name}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
            "or remove tracking_url",
        )
    ]


def _project_model_at(path: Sequence[str | int]) -> type[BaseModel] | None:
    if not path:
        return Project
    if path[0] == "dimensions" and len(path) == 2:
        return Dimension
    if path[0] == "links" and len(path) == 2:
        return Link
    if path[0] == "retention":
        return Retention
    return None


def find_project_dir(start: Path | None = None) -> Path:
    """The folder with ``partita.yaml``: ``start`` (default: the current folder)."""
    folder = (start or Path.cwd()).resolve()
    if (folder / PROJECT_FILE).is_file():
        return folder
    raise InvalidInput(
        [
            Problem(
                f"no {PROJECT_FILE} in {folder}", hint="run 'partita init' or pass --project DIR"
            )
        ],
        subject="project",
    )


def load_project(folder: Path | None = None) -> Project:
    """Read ``partita.yaml`` from ``folder`` (default: the current folder)."""
    root = find_project_dir(folder)
    path = root / PROJECT_FILE
    return parse_project(path.read_text(encoding="utf-8"), file=str(path), root=root)
