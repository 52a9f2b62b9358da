"""Where the client finds its station and its token.

``DAQ_STATION_URL`` picks the station (default ``http://127.0.0.1:8000``). ``DAQ_TOKEN``
is the bearer token if set; otherwise the one ``daq login`` stored for that URL in
``$XDG_CONFIG_HOME/lamina/token`` (default ``~/.config/lamina/token``): a JSON object
``{url: token}``, readable by its owner only (mode 0600).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_STATION_URL = "http://127.0.0.1:8000"


def station_url(explicit: str | None = None) -> str:
    """The station's base URL: ``explicit``, else ``DAQ_STATION_URL``, else the default."""
    url = explicit or os.environ.get("DAQ_STATION_URL") or DEFAULT_STATION_URL
    return url.rstrip("/")


def token_file() -> Path:
    """The file ``daq login`` keeps its tokens in."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "lamina" / "token"


def _stored() -> dict[str, str]:
    try:
        data = json.loads(token_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def load_token(url: str) -> str | None:
    """``DAQ_TOKEN``, else the token stored for ``url``, else ``None``."""
    return os.environ.get("DAQ_TOKEN") or _stored().get(station_url(url))


def save_token(url: str, token: str) -> Path:
    """Store ``token`` for ``url`` (mode 0600, directory 0700); the file's path."""
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tokens = {**_stored(), station_url(url): token}
    # Created 0600 before anything is written: the token is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(tokens, fh, indent=2)
    os.chmod(path, 0o600)
    return path
