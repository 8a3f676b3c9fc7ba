"""An NDI Polaris / Aurora on a pseudo-terminal, fed by any ``Tracker`` (simulation, recording).

``NDIDevice`` is the protocol state machine (command line in, reply bytes out); ``PtyServer``
puts it on a pty with break detection and transport faults; ``EmulatorProcess`` runs that in a
child process for tests and benchmarks.
"""
