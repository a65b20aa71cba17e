"""Perceived skin-tone labels by annotators (people or AI models, as each annotator's description
says): the per-annotator file format, a local labelling page, agreement and consensus.

Modules: ``files`` (the format and its strict reader), ``order`` (seeded and uncertain-first
order), ``crops`` (the face crops shown), ``server`` (the page's session and HTTP server),
``agreement`` (kappa, alpha, consensus, and ``label_summary`` for reports), ``commands``
(``frbench label``). Nothing is imported here, so that ``frbench --help`` stays fast.
"""
