"""Spoken text → a music command, tolerant of recognition errors.

Words are matched to a small vocabulary with :func:`difflib.get_close_matches`, so
"cause the music" still pauses and "paly some jazz" still plays jazz. Anything that does not
match gives ``Command("unknown")`` — the "didn't understand" path.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

ACTIONS = (
    "play",
    "pause",
    "resume",
    "next",
    "previous",
    "volume_up",
    "volume_down",
    "volume_set",
    "now_playing",
    "unknown",
)

WAKE_WORDS = {"hey", "joe", "joey", "hi", "ok", "okay", "a", "oh", "jo"}
FILLER = {"please", "could", "can", "you", "would", "now", "just", "uh", "um"}
VERBS = {
    "play": "play",
    "put": "play",
    "pause": "pause",
    "stop": "pause",
    "halt": "pause",
    "resume": "resume",
    "continue": "resume",
    "unpause": "resume",
    "next": "next",
    "skip": "next",
    "previous": "previous",
    "back": "previous",
    "last": "previous",
    "volume": "volume",
    "louder": "volume_up",
    "quieter": "volume_down",
    "softer": "volume_down",
    "turn": "turn",
    "what": "what",
    "whats": "what",
    "set": "set",
}
KINDS = {"track": "track", "song": "track", "artist": "artist", "album": "album",
         "playlist": "playlist", "list": "playlist"}  # fmt: skip
NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100,
}  # fmt: skip
TRIGGER_REMNANTS = {"joe", "joey", "jo", "job", "joel", "joke", "joes", "show", "jobs"}
PLAYING_WORDS = ("playing", "song", "track", "this", "on")


@dataclass(frozen=True)
class Command:
    """``action`` (one of :data:`ACTIONS`); ``query``/``kind`` for play, ``value`` for volume
    (percent for volume_set, steps for up/down); ``text`` is what was heard."""

    action: str
    text: str = ""
    query: str | None = None
    kind: str | None = None
    value: int | None = None

    def describe(self) -> str:
        if self.action == "play":
            what = f"{self.kind} " if self.kind else ""
            return f"play {what}{self.query!r}" if self.query else "play"
        if self.action == "volume_set":
            return f"volume to {self.value}%"
        return self.action.replace("_", " ")


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation ("What's" → "whats")."""
    text = text.lower().replace("'", "")
    return re.findall(r"[a-z0-9]+", text)


def _fuzzy(word: str, vocab: dict[str, str] | set[str], cutoff: float) -> str | None:
    if word in vocab:
        return word
    if len(word) < 3:
        return None
    hit = difflib.get_close_matches(word, list(vocab), n=1, cutoff=cutoff)
    return hit[0] if hit else None


def _number(words: list[str]) -> int | None:
    total, found = 0, False
    for w in words:
        if w.isdigit():
            return int(w)
        n = NUMBERS.get(w) if w in NUMBERS else NUMBERS.get(_fuzzy(w, set(NUMBERS), 0.8) or "")
        if n is not None:
            total = total * 100 if n == 100 and total else total + n
            found = True
    return total if found else None


def parse_command(text: str, cutoff: float = 0.75) -> Command:
    """Parse recognised speech into a :class:`Command` (``unknown`` when nothing fits)."""
    words = normalise(text or "")
    while words and (words[0] in WAKE_WORDS or words[0] in FILLER):
        words = words[1:]
    # what the recogniser made of "hey joe" (the capture's pre-roll holds it): drop through it
    for i, w in enumerate(words[:4]):
        if w in TRIGGER_REMNANTS:
            words = words[i + 1 :]
            break
    unknown = Command("unknown", text=text or "")
    if not words:
        return unknown
    # the command verb must come early (after at most two misheard wake words)
    for i, w in enumerate(words[:3]):
        verb = VERBS.get(_fuzzy(w, VERBS.keys(), cutoff) or "")
        if verb is None and w not in FILLER and i == 0 and _fuzzy(w, {"play"}, 0.6):
            verb = "play"  # "place", "plays", "blay": play is the most common command
        if verb is not None:
            return _with_verb(verb, words[i + 1 :], text) or unknown
    return unknown


def _with_verb(verb: str, rest: list[str], text: str) -> Command | None:
    rest = [w for w in rest if w not in FILLER]
    if verb in ("pause", "resume", "next", "previous", "volume_up", "volume_down"):
        return Command(verb, text=text)
    if verb == "what":
        if any(_fuzzy(w, set(PLAYING_WORDS), 0.8) for w in rest):
            return Command("now_playing", text=text)
        return None
    if verb in ("volume", "turn", "set"):
        fuzzy = {_fuzzy(w, {"up", "down", "louder", "quieter", "volume", "to"}, 0.8) for w in rest}
        if verb != "volume" and "volume" not in fuzzy and not fuzzy & {"up", "down"}:
            return None  # "set a timer", "turn on the lights"
        n = _number(rest)
        if n is not None and ("to" in fuzzy or verb in ("volume", "set")):
            return Command("volume_set", text=text, value=max(0, min(100, n)))
        if fuzzy & {"up", "louder"}:
            return Command("volume_up", text=text, value=1)
        if fuzzy & {"down", "quieter"}:
            return Command("volume_down", text=text, value=1)
        return None
    if verb == "play":
        if not rest:
            return Command("resume", text=text)
        while rest and rest[0] in ("some", "me", "the", "a", "an", "my", "us"):
            rest = rest[1:]
        kind = None
        if rest and _fuzzy(rest[0], KINDS.keys(), 0.8):
            kind = KINDS[_fuzzy(rest[0], KINDS.keys(), 0.8) or ""]
            rest = rest[1:]
            if rest and rest[0] in ("by", "called", "named"):
                rest = rest[1:]
        if not rest:
            return Command("resume", text=text) if kind is None else None
        if rest[-1] in ("music", "song", "songs"):
            rest = rest[:-1] or rest
        return Command("play", text=text, query=" ".join(rest), kind=kind)
    return None
