"""CT volumes, phantoms, surfaces, fiducials and markups, all in physical LPS millimetres."""
