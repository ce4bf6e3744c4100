"""The frame every status page shares: language, time zone, header, and the texts the script
needs. Vietnamese by default (``agent.language``); ``?lang=en`` switches and a cookie keeps it.

>>> Page(request, backend).respond("Title", "index", "<h1>…</h1>")  # doctest: +SKIP
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from netwatch.i18n import LANGUAGES, message_keys, t
from netwatch.web.backend import Backend
from netwatch.web.render import Lang, e, script_json, when

COOKIE = "netwatch_lang"
REFRESH_SECONDS = 15
KIND_TEXT = {"down": "down", "flapping": "flapping", "service": "service_down", "cert": "cert"}


class Page:
    """One request's language, time zone and the pieces every page shares."""

    def __init__(self, request: web.Request, backend: Backend) -> None:
        agent = backend.inventory.config.agent
        self.request = request
        self.tz = agent.timezone
        chosen = request.query.get("lang")
        self.set_cookie = chosen in LANGUAGES
        if chosen in LANGUAGES:
            self.lang: Lang = chosen
        elif request.cookies.get(COOKIE) in LANGUAGES:
            self.lang = request.cookies[COOKIE]
        else:
            self.lang = agent.language

    def t(self, key: str, **kw: object) -> str:
        return t(key, self.lang, **kw)

    def when(self, text: str | None) -> str:
        return when(text, self.tz, self.lang)

    def lang_link(self, lang: str) -> str:
        query = {k: v for k, v in self.request.query.items() if k != "lang"}
        query["lang"] = lang
        return f"{self.request.path}?{urlencode(query)}"

    def respond(
        self, title: str, page: str, main: str, *, status: int = 200, api: str = ""
    ) -> web.Response:
        nav = [
            ("/", "web_nav_sites"),
            ("/alerts", "web_nav_alerts"),
            ("/availability", "web_nav_availability"),
        ]
        links = "".join(
            f'<a href="{href}"{" aria-current=page" if self.request.path == href else ""}>'
            f"{e(self.t(key))}</a>"
            for href, key in nav
        )
        langs = "".join(
            f'<a href="{e(self.lang_link(code))}" hreflang="{code}" class="lang-{code}"'
            f"{' aria-current=true' if code == self.lang else ''}>{code.upper()}</a>"
            for code in LANGUAGES
        )
        # The script fills the placeholders itself: pass them through as themselves.
        keep = {name: "{" + name + "}" for name in ("detail", "n", "time")}
        texts = {k: t(k, self.lang, **keep) for k in sorted(message_keys()) if _for_js(k)}
        body = (
            "<!doctype html>"
            f'<html lang="{self.lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)} · netwatch</title>"
            '<link rel="stylesheet" href="/static/netwatch.css">'
            '<script src="/static/netwatch.js" defer></script></head>'
            f'<body data-page="{page}" data-api="{e(api)}" data-lang="{self.lang}" '
            f'data-tz="{e(self.tz)}" '
            f'data-refresh="{REFRESH_SECONDS}">'
            f'<header><a class="brand" href="/">netwatch</a><nav>{links}</nav>'
            f'<span class="langs">{langs}</span>'
            '<span id="updated" class="updated" role="status"></span></header>'
            f"<main>{main}</main>"
            f'<script type="application/json" id="nw-text">{script_json(texts)}</script>'
            "</body></html>"
        )
        response = web.Response(text=body, content_type="text/html", status=status)
        response.headers["Cache-Control"] = "no-store"
        if self.set_cookie:
            response.set_cookie(COOKIE, self.lang, max_age=365 * 86400, samesite="Lax")
        return response


def _for_js(key: str) -> bool:
    wanted = {*KIND_TEXT.values(), "hours", "days"}
    return key.startswith(("web_", "status_", "severity_", "failure_")) or key in wanted
