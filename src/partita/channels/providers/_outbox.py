"""A folder as the provider, for development and demos: one ``.eml`` file per email (``.json``
for SMS, push and webhook messages), named after the idempotency key, so sending the same
delivery again overwrites its file instead of adding a second one."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from partita.channels._messages import (
    EmailMessage,
    PushMessage,
    SmsMessage,
    WebhookRequest,
    mime_bytes,
)
from partita.channels.providers._base import FatalError, PermanentError, SendResult

Message = EmailMessage | SmsMessage | PushMessage | WebhookRequest
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def outbox_name(key: str) -> str:
    """The file stem for an idempotency key: the key itself when it is a safe file name, else
    a readable part of it and a hash (distinct keys never share a file)."""
    if _SAFE.fullmatch(key) and not key.endswith("."):
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    readable = _UNSAFE.sub("_", key).strip("._")[:60]
    return f"{readable}-{digest}" if readable else digest


@dataclass(frozen=True, slots=True)
class Written:
    """A message as the outbox writes it: the file name, its content, the provider id."""

    name: str
    content: bytes
    message_id: str


def _file_name(message: Message) -> str:
    stem = outbox_name(message.idempotency_key) if message.idempotency_key else None
    suffix = ".eml" if isinstance(message, EmailMessage) else ".json"
    return f"{stem or uuid.uuid4().hex}{suffix}"


def _write_all(handle: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(handle, view) :]


class OutboxProvider:
    """Writes each message to ``folder`` (created when missing) instead of sending it."""

    idempotent = True

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path_for(self, message: Message) -> Path:
        """The file ``message`` goes to."""
        return self.folder / _file_name(message)

    def prepare(self, message: Message) -> Written:
        """What ``send`` writes for ``message``: its file name and content (PermanentError when
        it cannot be written as MIME). Pure: it can run in another process."""
        if isinstance(message, EmailMessage):
            try:
                content, message_id = mime_bytes(message)
            except (ValueError, TypeError) as error:
                raise PermanentError(f"the message cannot be written as MIME: {error}") from None
        else:
            record = {"type": type(message).__name__, **dataclasses.asdict(message)}
            content = json.dumps(record, ensure_ascii=False, indent=2, default=dict).encode()
            message_id = None
        name = _file_name(message)
        return Written(name, content, message_id or name)

    def send(self, message: Message) -> SendResult:
        """Write the message (atomically: a reader never sees half a file)."""
        return self.send_prepared(self.prepare(message))

    def send_prepared(self, written: Written) -> SendResult:
        """Write what :meth:`prepare` made (with plain ``os`` calls: a large send writes
        thousands of files a second)."""
        folder = os.fspath(self.folder)
        path = os.path.join(folder, written.name)
        # one delivery is written by one process at a time (the ledger): its partial file
        # can have a fixed name, left over only by a crash, then overwritten
        temporary = os.path.join(folder, f".partial-{written.name}.tmp")
        try:
            try:
                handle = os.open(temporary, _CREATE, 0o644)
            except FileNotFoundError:
                self.folder.mkdir(parents=True, exist_ok=True)
                handle = os.open(temporary, _CREATE, 0o644)
            try:
                try:
                    _write_all(handle, written.content)
                finally:
                    os.close(handle)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise FatalError(
                f"cannot write to the outbox folder '{self.folder}': {error.strerror or error}: "
                "check that it exists and is writable"
            ) from None
        return SendResult(written.message_id)

    def close(self) -> None:
        """Nothing to release."""
