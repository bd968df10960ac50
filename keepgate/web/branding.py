"""The operator's brand on every page: colours derived from the brand colour, served as a tiny
stylesheet (the CSP forbids inline styles), and the image origins the CSP must allow.

An operator picks one colour. Text on it, and links drawn in it, must stay readable in both
themes, so the stylesheet derives: the text colour on a brand-coloured button (black or white,
whichever contrasts more) and a link colour per theme, darkened (light theme) or lightened
(dark theme) from the brand colour until it reaches WCAG AA (4.5:1) on that theme's surfaces.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from keepgate.config import Brand

AA = 4.5
# The palest surface links sit on in the light theme, and the lightest in the dark theme
# (alerts and highlighted rows): a link readable there is readable on every other surface.
LIGHT_SURFACE = "#e7ebf2"
DARK_SURFACE = "#2a3444"
BLACK = "#000000"
WHITE = "#ffffff"


def _channels(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _hex(channels: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in channels)


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a #rrggbb colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _mix(colour: str, towards: str, share: float) -> str:
    ours, theirs = _channels(colour), _channels(towards)
    r, g, b = (o + (t - o) * share for o, t in zip(ours, theirs, strict=True))
    return _hex((r, g, b))


def readable_on(colour: str, surface: str, *, towards: str) -> str:
    """``colour``, moved ``towards`` black or white in small steps until it reaches AA on
    ``surface`` (at worst black or white itself)."""
    for step in range(0, 101, 2):
        candidate = _mix(colour, towards, step / 100)
        if contrast(candidate, surface) >= AA:
            return candidate
    return towards


def text_on(colour: str) -> str:
    """Black or white: whichever reads better on ``colour``."""
    return BLACK if contrast(BLACK, colour) > contrast(WHITE, colour) else WHITE


def brand_css(brand: Brand) -> str:
    """The brand's custom properties; ``app.css`` draws with them."""
    colour = brand.colour.lower()
    light_link = readable_on(colour, LIGHT_SURFACE, towards=BLACK)
    dark_link = readable_on(colour, DARK_SURFACE, towards=WHITE)
    light = f"--accent:{colour}; --on-accent:{text_on(colour)}; --link:{light_link};"
    dark = f"--link:{dark_link};"
    return (f":root {{ {light} }}\n"
            "@media (prefers-color-scheme: dark) {\n"
            f"  :root:not([data-theme=light]) {{ {dark} }}\n"
            "}\n"
            f":root[data-theme=dark] {{ {dark} }}\n")


def image_origins(brand: Brand) -> tuple[str, ...]:
    """The origins of a logo or favicon served elsewhere (https only: config checks it)."""
    origins = []
    for url in (brand.logo_url, brand.favicon_url):
        if url and url.startswith("https://"):
            parts = urlsplit(url)
            origin = f"https://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return tuple(origins)
