"""keepgate.web.branding: the brand colour's derived colours read at WCAG AA in both themes,
whatever colour the operator picks; the CSP names only a logo's or favicon's origin."""

from __future__ import annotations

import re

import pytest

from keepgate.config import Brand
from keepgate.web.branding import (
    AA,
    DARK_SURFACE,
    LIGHT_SURFACE,
    brand_css,
    contrast,
    image_origins,
    text_on,
)
from keepgate.web.local_time import zone_named
from keepgate.web.middleware import CSP, content_security_policy


def test_contrast_matches_wcag() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("colour", ["#1f5fbf", "#ffcc00", "#00ff00", "#000000", "#ffffff",
                                    "#7f7f7f", "#e11d48", "#0a0a23"])
def test_every_derived_colour_reads_at_aa(colour: str) -> None:
    css = brand_css(Brand(colour=colour))
    links = re.findall(r"--link:(#[0-9a-f]{6});", css)
    light_link, dark_link = links[0], links[1]
    assert contrast(light_link, LIGHT_SURFACE) >= AA
    assert contrast(dark_link, DARK_SURFACE) >= AA
    on = re.search(r"--on-accent:(#[0-9a-f]{6});", css)
    assert on is not None and on.group(1) == text_on(colour)
    assert contrast(on.group(1), colour) >= AA


def test_the_dark_links_follow_the_system_and_the_switch() -> None:
    css = brand_css(Brand(colour="#1f5fbf"))
    assert "@media (prefers-color-scheme: dark)" in css
    assert ":root:not([data-theme=light])" in css and ":root[data-theme=dark]" in css


def test_only_offsite_images_widen_the_csp() -> None:
    assert image_origins(Brand(logo_url="/static/logo.svg")) == ()
    origins = image_origins(Brand(logo_url="https://cdn.acme.example/a.svg",
                                  favicon_url="https://cdn.acme.example/f.ico"))
    assert origins == ("https://cdn.acme.example",)
    assert content_security_policy(()) == CSP
    policy = content_security_policy(origins)
    assert "img-src 'self' data: https://cdn.acme.example;" in policy
    assert policy.replace(" https://cdn.acme.example", "") == CSP


@pytest.mark.parametrize(("cookie", "name"), [
    ("Europe/London", "Europe/London"), ("America/Argentina/Buenos_Aires",
                                         "America/Argentina/Buenos_Aires"),
    (None, "UTC"), ("", "UTC"), ("Mars/Olympus", "UTC"), ("../etc/passwd", "UTC"),
    ("x" * 100, "UTC"), ("UTC", "UTC"),
])
def test_a_zone_from_the_cookie_or_utc(cookie: str | None, name: str) -> None:
    assert zone_named(cookie)[1] == name
