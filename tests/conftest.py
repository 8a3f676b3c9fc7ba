"""Settings every test shares.

Ctrl-C: a process started in the background by a non-interactive shell (a CI runner, ``make test
&``) inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler. The tests
that press Ctrl-C (on the test process itself, or on a ``gestes`` subprocess, which inherits the
disposition) would then wait forever. Restore Python's own handler, so SIGINT means Ctrl-C here
whatever started the tests; children get the default action back on exec.
"""

import signal

signal.signal(signal.SIGINT, signal.default_int_handler)
