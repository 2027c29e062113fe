"""One Jinja2 environment for every email and report, templates only from templates/.

HTML (and XML) templates are autoescaped; plain-text templates (.txt: mail text parts and subjects) are not, as
nothing reads their markup: `Refund A&B` stays `Refund A&B` there. Subjects stay single-line whatever the text:
render_email joins their whitespace and the email channel's one_line drops control characters in every header.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from complaints.core.pii import mask_text


@lru_cache(maxsize=4)
def environment(templates_dir: Path) -> Environment:
    """Jinja environment over templates_dir: strict about undefined names, autoescaping all but .txt templates
    (and any unknown extension escaped), with a `mask` filter."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"), disabled_extensions=("txt",),
                                     default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mask"] = mask_text
    return env
