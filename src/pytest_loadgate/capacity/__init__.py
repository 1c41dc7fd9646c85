"""Capacity search: which open-model arrival rate to probe next, and what the probes mean.

Pure and Locust-free: the caller runs each probe as a real load run and reports it back.
"""
