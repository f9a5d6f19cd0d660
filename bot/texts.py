"""Everything the bot says. Plain text: no parse mode, nothing to escape. The buttons: :mod:`bot.buttons`."""

from __future__ import annotations

from typing import Sequence

from cleanmessy.model_info import ModelInfo
from cleanmessy.verdict import Verdict

METER_CELLS = 10
EMOJI = {"clean": "✨", "messy": "🧺"}

START = (
    "Hi! Send me a photo of a room and I'll tell you whether it's clean or messy, "
    "and how sure I am.\n\n"
    "Tip: send it as a file (📎 → File) for the sharpest result. Albums work too. /help has the details."
)

COMMANDS = {
    "start": "what this bot does",
    "help": "photos, files, privacy and limits",
    "about": "which model answers and how accurate it is",
}
"""The BotFather command list (``/setcommands``), also sent with ``setMyCommands`` at start-up."""


def help_text(max_megabytes: float, rate_limit: int, rate_window: float) -> str:
    """/help: how to send photos, what happens to them, and the limits."""
    rate = (
        f"• Up to {rate_limit} photos per {rate_window:g} s per person.\n" if rate_limit else ""
    )
    return (
        "How to use me\n"
        "• Send a photo: I answer clean or messy with a confidence meter.\n"
        "• Or send the image as a file (uncompressed): JPEG, PNG, WebP, GIF, BMP or TIFF.\n"
        "• Albums: I answer once, photo by photo.\n"
        "• Tap “Why?” to see where I saw the mess, 👍/👎 to tell me if I was right.\n\n"
        "Privacy\n"
        "• Photos are classified in memory and not kept.\n"
        "• Only when you tap 👍/👎 is that photo (re-encoded, no metadata) saved with the right label "
        "to improve the model. No user ids or names are stored.\n\n"
        "Limits\n"
        f"• Files up to {max_megabytes:g} MB.\n"
        f"{rate}"
        "• Below the “hard to say” line I tell you it's a toss-up rather than guess."
    )


def about_text(info: ModelInfo) -> str:
    """/about: the model id, its measured accuracy and its "not a room" check."""
    return f"Model: {info.model_id}\nMeasured: {info.describe()}.\n{info.describe_gate()}."


NOT_A_ROOM_HINT = "I only judge rooms: send me a photo of one and I'll tell you if it's clean or messy."
HINT = "Send me a photo of a room (or an image file) and I'll tell you if it's clean or messy."
NOT_AN_IMAGE = (
    "That file ({kind}) isn't an image I can read. "
    "Please send a photo, or an image file (JPEG, PNG, WebP, GIF, BMP or TIFF)."
)
TOO_BIG_FOR_TELEGRAM = (
    "That file is {size}: Telegram only lets bots download files up to 20 MB. "
    "Please send it as a photo (Telegram compresses it) or a smaller file."
)
TOO_BIG_FOR_US = "That file is {size}, over my limit of {limit}. Please send a smaller image, or send it as a photo."
BAD_IMAGE = "Sorry, I couldn't use that image: {reason}."
RATE_LIMITED = (
    "You're sending photos faster than I can look at them 🙂 "
    "Please wait {seconds} s and send that one again."
)
APOLOGY = "Sorry, something went wrong on my side. Please try again in a moment."
PHOTO_GONE = "I can't find that photo any more. Please send it again."
THANKS = {True: "Thanks! Glad I got it right.", False: "Thanks! Saved as {label} so I can learn from it."}
WHY_CAPTION = "Where I saw mess (brighter = more messy). {headline}"
NO_HEATMAP = "Heatmaps aren't available on this server (it runs the small model without PyTorch)."


def megabytes(size: int) -> str:
    """``21474836`` -> ``"20.5 MB"``."""
    return f"{size / 1024 / 1024:.1f} MB"


def meter(confidence: float, cells: int = METER_CELLS) -> str:
    """A text bar for a confidence in [0.5, 1]: ``"▰▰▰▰▰▰▰▰▱▱ 84%"``."""
    filled = max(0, min(cells, round(confidence * cells)))
    return "▰" * filled + "▱" * (cells - filled) + f" {round(confidence * 100)}%"


def verdict_lines(verdict: Verdict, unsure_below: float) -> list[str]:
    """Headline, meter and the "hard to say" band for one verdict (for "not a room": the leaning in small print)."""
    band = f"{round(unsure_below * 100)}%"
    if verdict.not_a_room:
        return [f"🤔 {verdict.headline}", f"({verdict.leaning})", NOT_A_ROOM_HINT]
    if verdict.unsure:
        return [
            f"🤷 {verdict.headline}",
            meter(verdict.confidence),
            f"That's in my “hard to say” band (under {band} sure): it could go either way.",
        ]
    return [
        f"{EMOJI.get(verdict.label, '')} {verdict.headline}".strip(),
        meter(verdict.confidence),
        f"(Under {band} sure I'd call it “hard to say”.)",
    ]


def verdict_text(results: Sequence[Verdict | str], unsure_below: float) -> str:
    """The reply to one photo, or to an album photo by photo (a ``str`` result is that photo's problem)."""
    if len(results) == 1 and isinstance(results[0], Verdict):
        return "\n".join(verdict_lines(results[0], unsure_below))
    blocks = []
    for number, result in enumerate(results, start=1):
        if isinstance(result, Verdict):
            headline, bar, _ = verdict_lines(result, unsure_below)
            blocks.append(f"Photo {number}: {headline}\n{bar}")
        else:
            blocks.append(f"Photo {number}: ⚠️ {result}")
    band = f"{round(unsure_below * 100)}%"
    return "\n\n".join(blocks) + f"\n\n(Under {band} sure I call it “hard to say”.)"
