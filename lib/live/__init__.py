"""The live assistant: audio source → trigger detector → command capture → speech recognition →
command parser → music controller (issue 7, ``heyjoe listen``).

- :mod:`lib.live.sources`    microphone, files (real time or as fast as possible) → one chunk stream
- :mod:`lib.live.asr`        speech recognisers behind one interface (PocketSphinx offline)
- :mod:`lib.live.commands`   fuzzy command parser ("play some jazz", "volume to 30", ...)
- :mod:`lib.live.music`      music controllers (dry run)
- :mod:`lib.live.assistant`  the state machine and its events; :class:`LiveConfig` (stage "live")
"""

from lib.live.assistant import Assistant, Event, LiveConfig, State
from lib.live.commands import Command, parse_command
from lib.live.music import DryRunController
from lib.live.sources import Chunk, FileSource, MicSource

__all__ = [
    "Assistant",
    "Chunk",
    "Command",
    "DryRunController",
    "Event",
    "FileSource",
    "LiveConfig",
    "MicSource",
    "State",
    "parse_command",
]
