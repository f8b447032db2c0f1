"""Plain types shared by every layer: ids, errors, units of work, time helpers.

Nothing here does I/O or imports another part of avesa, so every layer may import it.
"""
