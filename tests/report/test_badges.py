"""Every verdict state has its own badge: not_applicable is never shown as valid."""

from __future__ import annotations

import pytest

from harness.report.sections import badge


@pytest.mark.parametrize(("valid", "text", "css"), [
    (True, "valid", "ok"),
    (False, "invalid", "bad"),
    ("unknown", "unknown", "unsure"),
    ("not_applicable", "not applicable", "na"),
    (None, "not recorded", "unsure"),
])
def test_a_badge_names_the_state(valid, text, css):
    assert badge(valid) == f'<span class="badge {css}">{text}</span>'
