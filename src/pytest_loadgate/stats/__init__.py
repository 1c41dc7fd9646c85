"""Figures from raw samples: exact in a window, histograms past the cap."""
