"""Imported by the server that forks ingest's worker processes (flows/runners.py): loads the
build stage's libraries and data once, so that every worker starts warm."""

import gc

from flows.stages.page import warm_up

warm_up()
# What is loaded now lives as long as the workers: out of the collector's sight, a full
# collection in a worker no longer walks langdetect's profiles and trafilatura's tables, and
# their pages are not copied on write by the collector touching them.
gc.freeze()
