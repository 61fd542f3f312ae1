"""What one API process serves and to whom: the build, request caps, keys and the in-flight limit.

Keys come from ``ApiSettings`` fields or, through :meth:`ApiSettings.from_env`, from the
environment (``MULTIMODAL_API_KEY`` or a file named by ``MULTIMODAL_API_KEY_FILE``; the same
with ``_READ_`` for reads), so a key never has to appear on a command line, where ``ps`` shows it.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from multimodal.errors import InvalidInputError


class InsecureServerError(InvalidInputError):
    """A configuration that would let anyone on the network change the catalog, or a key that cannot be read."""


@dataclass
class ApiSettings:
    """Where the build lives, what a request may send, who may write and how many requests run at once.

    Attributes:
        host: the address the server binds; without a write key, writes are allowed on loopback only.
        writes: False serves a read-only API (POST /items answers 403), needing no write key anywhere.
        api_key / api_key_file: the write key, or a file holding it (first line, whitespace stripped).
        read_key / read_key_file: when set, searches and metrics need it (or the write key) too.
        max_in_flight: requests served at once by this process; more wait up to ``queue_wait_s``,
            then get 503 with ``Retry-After: retry_after_s``, so a burst never queues without bound.
    """

    artifacts_dir: Path = Path("artifacts")
    data_dir: Path | None = None
    store: str | None = None
    store_uri: str | None = None
    max_upload_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    max_items_per_request: int = 50
    host: str = "127.0.0.1"
    writes: bool = True
    api_key: str | None = field(default=None, repr=False)
    api_key_file: Path | None = None
    read_key: str | None = field(default=None, repr=False)
    read_key_file: Path | None = None
    max_in_flight: int = 8
    queue_wait_s: float = 0.25
    retry_after_s: int = 1
    refresh_s: float = 2.0  # how often to look for a generation another process committed (0: never)

    @classmethod
    def from_env(cls) -> ApiSettings:
        """Settings for uvicorn worker processes (``--workers``), passed through the environment."""
        env = os.environ

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(
            artifacts_dir=Path(env.get("MULTIMODAL_ARTIFACTS", "artifacts")),
            data_dir=path("MULTIMODAL_DATA"),
            store=env.get("MULTIMODAL_STORE") or None,
            store_uri=env.get("MULTIMODAL_STORE_URI") or None,
            host=env.get("MULTIMODAL_API_HOST", "127.0.0.1"),
            writes=env.get("MULTIMODAL_API_READ_ONLY", "").lower() not in ("1", "true", "yes"),
            api_key=env.get("MULTIMODAL_API_KEY") or None,
            api_key_file=path("MULTIMODAL_API_KEY_FILE"),
            read_key=env.get("MULTIMODAL_API_READ_KEY") or None,
            read_key_file=path("MULTIMODAL_API_READ_KEY_FILE"),
            max_in_flight=int(env.get("MULTIMODAL_API_MAX_IN_FLIGHT", cls.max_in_flight)),
            queue_wait_s=float(env.get("MULTIMODAL_API_QUEUE_WAIT_S", cls.queue_wait_s)),
            refresh_s=float(env.get("MULTIMODAL_API_REFRESH_S", cls.refresh_s)),
        )

    def write_key(self) -> str | None:
        """The write key, from the field or its file (None when neither is set)."""
        return _key(self.api_key, self.api_key_file, "MULTIMODAL_API_KEY_FILE")

    def read_key_value(self) -> str | None:
        """The read key, from the field or its file (None: reads are open)."""
        return _key(self.read_key, self.read_key_file, "MULTIMODAL_API_READ_KEY_FILE")

    def check(self) -> None:
        """Refuse settings that would open catalog writes to the network, before anything is served.

        Raises:
            InsecureServerError: writes enabled with no write key on a non-loopback address, an
                unreadable or empty key file, or limits that cannot work.
        """
        if self.max_in_flight < 1 or self.queue_wait_s < 0 or self.retry_after_s < 1 or self.refresh_s < 0:
            raise InsecureServerError("max_in_flight and retry_after_s must be at least 1, queue_wait_s and refresh_s at least 0")
        self.read_key_value()
        if self.writes and self.write_key() is None and not is_loopback(self.host):
            raise InsecureServerError(
                f"refusing to serve writes (POST /items) on {self.host} without a key: anyone who reaches it could "
                "change the catalog. Set MULTIMODAL_API_KEY (or MULTIMODAL_API_KEY_FILE, a file holding the key), "
                "serve read-only (--read-only, MULTIMODAL_API_READ_ONLY=1), or bind 127.0.0.1")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches: 127.0.0.0/8, ::1 and ``localhost``."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # another host name: it may resolve to any interface
        return False


def _key(value: str | None, file: Path | None, what: str) -> str | None:
    """A key from a value or a file; the error names the file, never its content."""
    if value is not None and value.strip():
        return value.strip()
    if file is None:
        return None
    try:
        text = Path(file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InsecureServerError(f"cannot read the key file {file} ({what}): {type(exc).__name__}") from None
    if not text:
        raise InsecureServerError(f"the key file {file} ({what}) is empty")
    return text.splitlines()[0].strip()
