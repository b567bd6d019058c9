"""`.env.example` is where an operator learns every variable the portal reads: none may be missing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where variables are read: the settings' env_* helpers and gunicorn's config.
READERS = {
    ROOT / "julia_monitor" / "settings.py": r"env_\w+\(\s*\"([A-Z][A-Z0-9_]+)\"",
    ROOT / "gunicorn.conf.py": r"(?:_env_int\(|environ\.get\()\s*['\"]([A-Z][A-Z0-9_]+)['\"]",
}


def test_every_variable_the_portal_reads_is_in_env_example() -> None:
    read = {name for path, pattern in READERS.items() for name in re.findall(pattern, path.read_text())}
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert len(read) > 40  # the patterns still find the reads
    assert read - listed == set()
