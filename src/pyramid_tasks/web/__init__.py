"""The producer side: what runs in a process that defers tasks.

The request methods (:mod:`.request`), the checks made before anything is
sent (:mod:`.checks`), commit-aware delivery (:mod:`.delivery`), and the
handles a caller gets back (:mod:`.result`, :mod:`.futures`).
"""
