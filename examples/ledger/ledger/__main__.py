"""``python -m ledger``: serve with waitress on ``PORT`` (default 8000)."""

import os

import waitress

from . import application

if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    waitress.serve(application(), host="127.0.0.1", port=port)
