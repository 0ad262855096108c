"""Performance harness of the ECM Admin API (not part of the test run).

``python -m bench --patients 100000``: build a realistic PostgreSQL data set, serve the app
under gunicorn, drive every read route over HTTP, time the bulk writes and the CSV commands,
and compare each figure with the database time of the same SQL. See ``bench/README.md``.
"""
