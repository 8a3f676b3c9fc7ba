"""Settings every test shares.

Ctrl-C: a process started in the background by a non-interactive shell (a CI runner, ``make test
&``) inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler. The tests
that press Ctrl-C (on the test process itself, or on a ``gestes`` subprocess, which inherits the
disposition) would then wait forever. Restore Python's own handler, so SIGINT means Ctrl-C here
whatever started the tests; children get the default action back on exec.
"""

import signal

from hypothesis import HealthCheck, settings

signal.signal(signal.SIGINT, signal.default_int_handler)

# Hypothesis: no per-example deadline, and no health check on how long examples take to make.
# Both are wall-clock assertions, which the project's tests do not make: the first example of a
# test may include compiling a Numba kernel (half a second), and a loaded CI machine is slow at
# random.
settings.register_profile("gestes", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gestes")
