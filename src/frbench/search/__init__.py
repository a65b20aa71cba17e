"""One-to-many search (identification): who is enrolled, exact top-L search, FNIR/FPIR per group.

* :mod:`~frbench.search.protocol` - seeded identity-disjoint gallery/probe split, or given lists
* :mod:`~frbench.search.topk` - exact streamed top-L subject search (numpy or faiss kernel)
* :mod:`~frbench.search.measures` - SearchTable, FNIR/FPIR/SEL/CMC counts per probe group
* :mod:`~frbench.search.sweeps` - gallery size and composition sweeps
* :mod:`~frbench.search.imported` - candidate lists from other systems;
  :mod:`~frbench.search.rekognition` - saved Amazon Rekognition responses
* :mod:`~frbench.search.identification` - one measurement end to end for a run
* :mod:`~frbench.search.plots` - CMC, gallery size and candidate-group figures
"""
