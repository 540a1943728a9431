"""The trigger-word model: architectures, training, lineage and the streaming detector.

``load_model()`` gives the shipped ``checkpoints/trigger/hey_joe`` model; ``StreamingDetector``
and ``score_audio`` are the one code path that turns audio into scores.
"""

from lib.trigger.cards import (
    ModelError,
    TriggerModel,
    list_models,
    load_model,
    read_card,
    update_card,
    write_card,
)
from lib.trigger.stream import StreamingDetector, score_audio

__all__ = [
    "ModelError",
    "StreamingDetector",
    "TriggerModel",
    "list_models",
    "load_model",
    "read_card",
    "score_audio",
    "update_card",
    "write_card",
]
