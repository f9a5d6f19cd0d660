"""The answer the model gives for one photo."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    """A prediction: the winning label, its probability, both class scores, and whether it is a toss-up.

    >>> v = Verdict(label="messy", confidence=0.87, scores={"clean": 0.13, "messy": 0.87}, unsure=False)
    >>> v.headline
    'Messy, 87% sure'
    """

    label: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    unsure: bool = False

    @property
    def headline(self) -> str:
        """One line for people: "Messy, 87% sure" or "Hard to say (leaning messy, 58%)"."""
        percent = round(self.confidence * 100)
        if self.unsure:
            return f"Hard to say (leaning {self.label}, {percent}%)"
        return f"{self.label.capitalize()}, {percent}% sure"

    def to_dict(self) -> dict:
        """JSON-ready form: ``{label, confidence, scores, unsure}``."""
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "scores": {name: round(score, 4) for name, score in self.scores.items()},
            "unsure": self.unsure,
        }
