"""The buttons under a verdict and their callback protocol: ``"<action>:<photo index>"``."""

from __future__ import annotations

from typing import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

# Callback data: "<action>:<photo index>", small enough for Telegram's 64-byte limit.
WHY, RIGHT, WRONG = "why", "right", "wrong"


def callback_data(action: str, index: int) -> str:
    """Button payload, e.g. ``"why:0"``."""
    return f"{action}:{index}"


def parse_callback(data: object) -> tuple[str, int] | None:
    """``"why:0"`` -> ``("why", 0)``; ``None`` for anything this bot did not send.

    Only one or two ASCII digits count (an album holds at most 10 photos): ``str.isdigit()``
    also accepts ``"²"`` or ``"٣"``, which ``int()`` then refuses or reads.
    """
    if not isinstance(data, str):
        return None
    action, _, index = data.partition(":")
    if action not in (WHY, RIGHT, WRONG) or not (1 <= len(index) <= 2 and index.isascii() and index.isdigit()):
        return None
    return action, int(index)


def verdict_keyboard(indices: Sequence[int], numbered: bool = False) -> InlineKeyboardMarkup | None:
    """One row per classified photo: Why? / 👍 / 👎 (with the photo's number inside an album)."""
    rows = []
    for index in indices:
        suffix = f" {index + 1}" if numbered else ""
        rows.append(
            [
                InlineKeyboardButton(f"Why?{suffix}", callback_data=callback_data(WHY, index)),
                InlineKeyboardButton(f"👍{suffix}", callback_data=callback_data(RIGHT, index)),
                InlineKeyboardButton(f"👎{suffix}", callback_data=callback_data(WRONG, index)),
            ]
        )
    return InlineKeyboardMarkup(rows) if rows else None


def without_buttons(markup: InlineKeyboardMarkup | None, index: int, actions: Sequence[str]) -> InlineKeyboardMarkup | None:
    """``markup`` minus photo ``index``'s buttons for ``actions``; ``None`` when no button is left."""
    if markup is None:
        return None
    drop = {callback_data(action, index) for action in actions}
    rows = [[b for b in row if b.callback_data not in drop] for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None
