"""Imported by the server that forks ingest's worker processes (flows/runners.py): loads the
build stage's libraries and data once, so that every worker starts warm."""

from flows.stages.page import warm_up

warm_up()
