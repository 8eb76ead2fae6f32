"""Refresh the request-variant table in docs/serving.md from tests/serving_cases.py."""

from __future__ import annotations

import logging

from tests.test_serving_table import BEGIN, DOC, END, render


def main() -> None:
    logging.getLogger("sm_payloads.serving").setLevel(logging.CRITICAL)  # rows that raise on purpose
    doc = DOC.read_text()
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{render()}\n{END}{tail}")
    print(f"updated {DOC}")


if __name__ == "__main__":
    main()
