"""Reports of runs: JSON, CSV, Locust's HTML, the session index, progress lines."""
