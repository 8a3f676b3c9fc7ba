"""Seeds that do not depend on who computes what, in which order.

A study is cut into pieces (a configuration and a range of trials) that finish in any order on
any worker. Each trial draws from its own seed, derived from the study's seed, the piece's key
(a text such as ``"spread/n=6/fle=0.5"``) and the trial's number, through numpy's
``SeedSequence``. The key enters as a hash that is the same in every process and on every
machine (BLAKE2b of its UTF-8 bytes), never Python's ``hash()``, which changes from one process
to the next for text.
"""

import hashlib

import numpy as np

KEY_WORDS = 4


def key_words(key: str) -> list[int]:
    """``key`` as ``KEY_WORDS`` unsigned 32-bit words, stable across processes and machines."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=4 * KEY_WORDS).digest()
    return [int.from_bytes(digest[4 * i : 4 * i + 4], "little") for i in range(KEY_WORDS)]


def trial_seed(study_seed: int, key: str, trial: int) -> int:
    """The seed of trial number ``trial`` (0, 1, ...) of the configuration ``key`` in a study
    seeded with ``study_seed``: a 63-bit integer (the simulation's seeds are integers)."""
    if study_seed < 0 or trial < 0:
        raise ValueError(f"seeds and trial numbers are >= 0; got {study_seed}, {trial}")
    sequence = np.random.SeedSequence([study_seed, *key_words(key), trial])
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
