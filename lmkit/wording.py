"""Counts in messages: `counted(1, "token")` is '1 token', `counted(2048, "token")` is '2,048 tokens'.

Every message that states a count of something goes through here, so none says '1 tokens' or '1 steps'.
"""
from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for exactly one; `plural` where adding an s is wrong."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
