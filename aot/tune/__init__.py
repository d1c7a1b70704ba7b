"""Measured partitioning (issue 12): candidates per node and pattern, their measured costs, and the
search for the cheapest cover (``search``)."""
