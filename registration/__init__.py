"""Registration core: rigid transforms, paired-point and surface registration, TRE, pivot.

Pure numeric code: numpy arrays in, arrays out. This package imports nothing else of gestes.
"""
