"""Trial seeds: the same in every process and on every machine, different for every trial."""

import os
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from guidance.study.seeds import key_words, trial_seed

keys = st.text(min_size=0, max_size=40)


@given(st.integers(0, 2**32 - 1), keys, st.integers(0, 10**6))
def test_a_trial_seed_is_a_63_bit_integer_and_the_same_when_asked_again(seed, key, trial):
    value = trial_seed(seed, key, trial)
    assert 0 <= value < 2**63
    assert trial_seed(seed, key, trial) == value


@given(st.integers(0, 1000), keys, keys, st.integers(0, 1000))
def test_different_keys_or_trials_give_different_seeds(seed, key, other, trial):
    if key != other:
        assert trial_seed(seed, key, trial) != trial_seed(seed, other, trial)
    assert trial_seed(seed, key, trial) != trial_seed(seed, key, trial + 1)
    assert trial_seed(seed, key, trial) != trial_seed(seed + 1, key, trial)


def test_the_key_hash_does_not_change_with_the_process_hash_seed():
    """Python's hash() of a text changes from one process to the next (PYTHONHASHSEED); the
    study's key hash must not, or workers would draw other trials than the client planned."""
    code = (
        "from guidance.study.seeds import key_words, trial_seed;"
        "print(key_words('spread/n=6/fle=0.5'), trial_seed(7, 'spread/n=6/fle=0.5', 3),"
        " hash('spread/n=6/fle=0.5'))"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        outputs.append(done.stdout.split())
    words_and_seed = [output[:-1] for output in outputs]
    assert words_and_seed[0] == words_and_seed[1]
    assert outputs[0][-1] != outputs[1][-1]  # the builtin hash did change: the test can fail
    here = f"{key_words('spread/n=6/fle=0.5')} {trial_seed(7, 'spread/n=6/fle=0.5', 3)}".split()
    assert words_and_seed[0] == here
