"""The bottom layer: files written atomically, spreadsheet-safe CSV, the one line-numbered CSV reader, PNG figures.

Imports nothing of frbench but :mod:`frbench.errors`, so every other package may use it.
"""
