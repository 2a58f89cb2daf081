"""Small rules of English for messages people read ("an innovator token", "a listing")."""
from __future__ import annotations


def a_or_an(word: str) -> str:
    """``word`` with its indefinite article: ``an innovator``, ``a trust``."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
