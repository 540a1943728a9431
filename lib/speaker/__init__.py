"""Speaker embeddings in the Deep Speaker style (notebook 04_train_speaker).

- :mod:`lib.speaker.database`  speaker database: folders, LibriSpeech, VoxCeleb; synthetic bootstrap
- :mod:`lib.speaker.cache`     log-mel features computed once per utterance
- :mod:`lib.speaker.batches`   triplets (random, semi-hard) cut from the cache in ``tf.data``
- :mod:`lib.speaker.model`     the ResCNN embedder, triplet and (AAM) softmax training models
- :mod:`lib.speaker.train`     training with checkpoints, resume, logs and dev EER
- :mod:`lib.speaker.verify`    inference: embed, verify, enroll, embed a folder

TensorFlow is imported only when a model is built or loaded.
"""

from lib.speaker.settings import SpeakerConfig
from lib.speaker.verify import (
    SpeakerModel,
    check_profile_model,
    cosine,
    embed_audio,
    embed_file,
    embed_folder,
    enroll,
    load_model,
    load_profile,
    model_dirs,
    verify,
)

__all__ = [
    "SpeakerConfig",
    "SpeakerModel",
    "check_profile_model",
    "cosine",
    "embed_audio",
    "embed_file",
    "embed_folder",
    "enroll",
    "load_model",
    "load_profile",
    "model_dirs",
    "verify",
]
