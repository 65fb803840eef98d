"""Names and media types of uploaded files: checked on the way in, made safe on the way out."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from asktell.core.errors import InvalidInput

__all__ = ["DEFAULT_CONTENT_TYPE", "check_content_type", "check_file_name", "content_disposition"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_NAME_CHARS = 255
_MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(\s*;\s*[A-Za-z0-9_.-]+=(\"[^\"\\\r\n]*\"|[A-Za-z0-9!#$&^_.+-]+))*$"
)
_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")


def check_file_name(name: str, *, field: str = "name") -> str:
    """A plain file name: no folders, no control characters, at most 255 characters."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidInput("a file name is required", field=field)
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"at most {MAX_NAME_CHARS} characters", field=field)
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInput(
            "a file name, not a path ('/', '\\', '.' and '..' are refused)", field=field
        )
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise InvalidInput("control characters are not allowed in a file name", field=field)
    return name


def check_content_type(value: str | None, *, field: str = "content-type") -> str:
    """A `type/subtype` media type (parameters allowed); none means octet-stream."""
    if value is None or not value.strip():
        return DEFAULT_CONTENT_TYPE
    value = value.strip()
    if len(value) > 255 or not _MEDIA_TYPE.match(value):
        raise InvalidInput(f"not a media type: {value[:80]!r}", field=field)
    return value


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 one (RFC 6266)."""
    fallback = _ASCII_SAFE.sub("_", name).strip(" .") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
