"""The command language as a JSGF grammar, for restricted-vocabulary offline recognition.

PocketSphinx with its general English language model mishears short commands, all the more
in voices unlike its training data ("hey joe play some jazz" → "they don't live album ...").
Decoding against a grammar of the commands the parser understands — the way offline
assistants such as Rhasspy do — turns the same audio into the right words. The music names
that may follow "play" come from the ``music_vocabulary`` setting (genres, artists, albums,
playlists: fill it with your library's names); names with words missing from the
recogniser's dictionary are left out with a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

#: names "play ..." may take when no vocabulary is configured.
DEFAULT_MUSIC: tuple[str, ...] = (
    "jazz", "rock", "blues", "classical music", "pop", "hip hop", "country", "reggae",
    "metal", "soul", "funk", "disco", "folk", "the beatles", "abbey road", "miles davis",
    "kind of blue", "morning coffee", "queen", "bob marley", "taylor swift", "mozart",
)  # fmt: skip

NUMBERS = (
    "five", "ten", "fifteen", "twenty", "twenty five", "thirty", "forty", "fifty", "sixty",
    "seventy", "seventy five", "eighty", "ninety", "one hundred", "zero",
)  # fmt: skip

# "song" only after "the": a bare "play song <music>" competes with "play some <music>", and
# the two sound alike enough that the grammar heard "play some jazz" as a track named jazz

_TEMPLATE = """#JSGF V1.0;
grammar heyjoe;
public <utterance> = [<wake>] <command>;
<wake> = hey joe | okay joe | hey | joe;
<command> = play [some | the | me] <music> [music]
  | play [the] (album | artist | playlist | track) <music> | play the song <music>
  | (pause | stop) [the music]
  | (resume | continue) [the music]
  | (next | skip) [song | track | this song]
  | (previous | last) [song | track]
  | turn [the] volume (up | down) | turn it (up | down) | volume (up | down)
  | (set the volume to | volume) <number>
  | what is playing | what song is this;
<music> = {music};
<number> = {numbers};
"""

_WORD = re.compile(r"^[a-z]+$")


def _clean(name: str) -> str:
    return " ".join(re.findall(r"[a-z]+", name.lower().replace("'", "")))


def command_grammar(
    music: Iterable[str] = DEFAULT_MUSIC, known: Callable[[str], bool] | None = None
) -> tuple[str, list[str]]:
    """The JSGF grammar text and the music names left out (words ``known`` rejects).

    ``known(word)`` says whether the recogniser's dictionary has ``word`` (None: all)."""
    keep, dropped = [], []
    for name in music:
        words = _clean(str(name)).split()
        if not words or any(not _WORD.match(w) for w in words):
            dropped.append(str(name))
        elif known is not None and not all(known(w) for w in words):
            dropped.append(str(name))
        elif " ".join(words) not in keep:
            keep.append(" ".join(words))
    if dropped:
        log.warning(
            "left out of the command grammar (words the recogniser does not know): %s",
            ", ".join(dropped),
        )
    if not keep:
        keep = ["music"]
    return _TEMPLATE.format(music=" | ".join(keep), numbers=" | ".join(NUMBERS)), dropped
