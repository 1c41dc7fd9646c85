"""Turning a run's figures into checks and a verdict."""
