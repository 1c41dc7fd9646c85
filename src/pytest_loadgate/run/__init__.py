"""Running Locust in-process: the only package that imports Locust and gevent."""
