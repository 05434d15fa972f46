"""Step: the kit's Russian catalogue, holding only the public messages (the course's own also
holds the hidden tests' messages, which say what those tests check)."""

from __future__ import annotations

from .. import translations
from .context import Context


def public_catalogue(ctx: Context) -> dict[str, bytes]:
    return {translations.MO_PATH: translations.compiled_public(ctx.root)}
