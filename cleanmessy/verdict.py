"""The answer the model gives for one photo."""

from __future__ import annotations

from dataclasses import dataclass, field

NOT_A_ROOM_HEADLINE = "That doesn't look like a room"


@dataclass(frozen=True)
class Verdict:
    """A prediction: the winning label, its probability, both class scores, whether it is a toss-up,
    and whether the photo looks like a room at all.

    ``label``, ``confidence`` and ``scores`` are always the clean/messy leaning; when ``not_a_room``
    is true the headline says so instead and :attr:`leaning` gives the leaning as small print.

    >>> v = Verdict(label="messy", confidence=0.87, scores={"clean": 0.13, "messy": 0.87}, unsure=False)
    >>> v.headline
    'Messy, 87% sure'
    >>> Verdict("clean", 0.94, {"clean": 0.94, "messy": 0.06}, not_a_room=True).headline
    "That doesn't look like a room"
    """

    label: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    unsure: bool = False
    not_a_room: bool = False

    @property
    def leaning(self) -> str:
        """The clean/messy leaning in small print: "if it is a room, it leans clean (94%)"."""
        return f"if it is a room, it leans {self.label} ({round(self.confidence * 100)}%)"

    @property
    def headline(self) -> str:
        """One line for people: "Messy, 87% sure", "Hard to say (leaning messy, 58%)" or "That doesn't look like a room"."""
        percent = round(self.confidence * 100)
        if self.not_a_room:
            return NOT_A_ROOM_HEADLINE
        if self.unsure:
            return f"Hard to say (leaning {self.label}, {percent}%)"
        return f"{self.label.capitalize()}, {percent}% sure"

    def to_dict(self) -> dict:
        """JSON-ready form: ``{label, confidence, scores, unsure, not_a_room}``."""
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "scores": {name: round(score, 4) for name, score in self.scores.items()},
            "unsure": self.unsure,
            "not_a_room": self.not_a_room,
        }
