"""The use cases of Bulletin, one home for its rules: the command line, the web pages, the worker and the
scheduler are thin callers of these functions.

Each use case runs over a unit of work (`Store.unit_of_work()`, one transaction) opened by its caller, takes
plain values and returns plain values (dataclasses, never ORM rows), and raises `BulletinError` subclasses that
the adapters map to `error:` lines or status codes. Who may change whether a person is mailed is decided in
`consent`; everything that reads or writes the database goes through `bulletin.store`.
"""
