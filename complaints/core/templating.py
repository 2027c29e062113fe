"""One Jinja2 environment for every email and report: autoescaped, templates only from templates/."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from complaints.core.pii import mask_text


@lru_cache(maxsize=4)
def environment(templates_dir: Path) -> Environment:
    """Jinja environment over templates_dir: strict about undefined names, autoescaping, with a `mask` filter."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        # .txt templates are escaped too: plain-text mail never carries live markup from user text.
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml", "txt"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mask"] = mask_text
    return env
