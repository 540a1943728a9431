"""Music controllers. :class:`DryRunController` (the offline default) keeps a pretend player
state and says what it would do; every controller answers ``execute(command) -> Outcome``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lib.live.commands import Command

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What the controller did: ``ok`` and a message fit to be spoken."""

    ok: bool
    message: str


class DryRunController:
    """Prints (logs) what it would do; keeps playing/track/volume so replies make sense."""

    name = "dry-run"

    def __init__(self, volume: int = 50, volume_step: int = 10) -> None:
        self.playing = False
        self.track: str | None = None
        self.volume = volume
        self.volume_step = volume_step
        self.history: list[Command] = []

    def execute(self, cmd: Command) -> Outcome:
        self.history.append(cmd)
        a = cmd.action
        if a == "play":
            self.track, self.playing = cmd.query, True
            kind = f"the {cmd.kind} " if cmd.kind else ""
            msg = f"would play {kind}{cmd.query!r}"
        elif a in ("pause", "resume"):
            self.playing = a == "resume"
            msg = f"would {a} the music"
        elif a in ("next", "previous"):
            msg = f"would skip to the {a} track"
        elif a in ("volume_up", "volume_down"):
            sign = 1 if a == "volume_up" else -1
            self.volume = max(0, min(100, self.volume + sign * self.volume_step * (cmd.value or 1)))
            msg = f"would set the volume to {self.volume}%"
        elif a == "volume_set":
            self.volume = int(cmd.value or 0)
            msg = f"would set the volume to {self.volume}%"
        elif a == "now_playing":
            msg = f"now playing: {self.track!r}" if self.track and self.playing else "nothing plays"
        else:
            return Outcome(False, "Sorry, I didn't understand that.")
        log.info("dry run: %s", msg)
        return Outcome(True, msg)
