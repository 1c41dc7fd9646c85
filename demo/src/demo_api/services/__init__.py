"""The service layer: all reads and writes of products and orders, stock logic included.

Functions here are synchronous and take a :class:`~demo_api.db.Database`; the routes call
them through ``Database.run``. They return plain dicts ready for JSON.
"""
