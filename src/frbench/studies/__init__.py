"""The studies a run can make of a dataset, behind one interface (:class:`~frbench.studies.base.Study`).

Verification (1:1): listed, generated, exhaustive or imported pairs (:mod:`frbench.studies.verification`);
identification (1:N): searches against a gallery (:mod:`frbench.studies.identification`). Both
``evaluate`` into one :class:`~frbench.studies.base.StudyResult`.
"""

from __future__ import annotations

from frbench.config import Config
from frbench.studies.base import Study, StudyInputs, StudyResult
from frbench.studies.identification import IdentificationSearch
from frbench.studies.verification import ExhaustivePairs, ImportedScores, ListedPairs

__all__ = ["Study", "StudyInputs", "StudyResult", "study_for"]


def study_for(config: Config) -> Study:
    """The study a config names (imported scores whenever ``model.name`` is ``scores``)."""
    if config.model.imports_scores:
        return ImportedScores()
    if config.pairs.protocol == "identification":
        return IdentificationSearch()
    return ExhaustivePairs() if config.pairs.protocol == "exhaustive" else ListedPairs()
