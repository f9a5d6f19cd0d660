"""Loopback copies of the real engines' results pages, for the Google and Bing adapters' tests.

Each function renders one generation of one engine's public markup around the fake site's
results (``items``: dicts with ``key``, ``thumb``, ``full`` and ``page`` URLs), so the adapters in
``scraper/engines/`` run in real Chromium against the markup they were written for. When a site
changes its markup, add or update the function here and the adapter in its one module (see
"Google's markup over time" in ``scraper/README.md``).

* :func:`google_page`: Google Images since the December 2025 redesign (``udm=2``). Class names
  are deliberately random: the adapter must find everything by attribute (``data-docid``,
  ``data-lpage``, ``data-lhcontainer``, ``data-id``, ``jsname="kn3ccd"``). The first results'
  full-size URLs are only in the embedded page data (escaped as Google escapes them), and their
  preview ``<img>`` never loads, as for a browser that cannot reach the image hosts; results
  loaded by scrolling have no page data, and their preview shows the full-size image after a
  delay. Each click also renders the next result's panel, already loaded, before this one
  (Google preloads neighbours), so reading any panel but the clicked doc id's gives the wrong
  image. Clicks and the consent choice are reported to ``/api/log/...`` so tests can count them.
* :func:`google_legacy_page`: the 2024-25 markup (class names, an ``encrypted-tbn`` placeholder
  first, an end-of-results marker).
* :func:`google_sorry_page`: the captcha page Google redirects to when it blocks an IP.
* :func:`bing_page`: ``a.iusc`` links with the ``m`` JSON, plus one tile whose JSON is broken.
"""

from __future__ import annotations

import hashlib
import html
import json


def doc_id(key: str) -> str:
    """A stable Google-style document id for a result key (``[\\w-]`` characters only)."""
    return hashlib.sha1(key.encode()).hexdigest()[:14]


def _google_escaped(value: object) -> str:
    """JSON as Google embeds it in a script: ``=`` and ``&`` inside strings as ``\\u003d``/``\\u0026``."""
    return json.dumps(value, separators=(",", ":")).replace("=", "\\u003d").replace("&", "\\u0026")


def data_url(item: dict) -> str:
    """The full-size URL the page data gives for ``item`` (a query string shows it came from there)."""
    return f"{item['full']}?via=data&w=1"


_CONSENT = """<div id="xq-consent" role="dialog" class="Qz7 vk2">
<h2>Bevor Sie zu Google weitergehen</h2>
<form action="https://consent.google.com/save" method="POST" class="f1a">
  <input type="hidden" name="set_eom" value="false"><input type="hidden" name="set_sc" value="true">
  <button class="b3x" type="submit">Alle akzeptieren</button></form>
<form action="https://consent.google.com/save" method="POST" class="f1a">
  <input type="hidden" name="set_eom" value="true">
  <button class="b3x" type="submit">Alle ablehnen</button></form>
</div>"""

_GOOGLE = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>{title} - Google Suche</title>
<style>
  body {{ margin: 0; font-family: sans-serif; }}
  .Rv3 {{ display: flex; flex-wrap: wrap; width: 760px; }}
  .t9q {{ width: 170px; height: 170px; margin: 10px; cursor: pointer; }}
  .t9q img {{ width: 170px; height: 170px; object-fit: cover; }}
  .Ft1 {{ height: 1400px; }}
  .Pn4 {{ position: fixed; right: 0; top: 0; width: 400px; height: 100%; background: #f4f4f4; overflow: auto; }}
  .Pn4 img {{ max-width: 180px; }}
</style></head>
<body>
{consent}
<div class="Rv3" jsname="r5xl">{tiles}</div>{held}
<div class="Ft1"></div>
<div class="Pn4" data-lhcontainer="1" jsaction="rcuQ6b:npT2md"></div>
<script nonce="n0">AF_initDataCallback({{key: 'ds:1', hash: '2', data:{data}, sideChannel: {{}}}});</script>
<script nonce="n0">
const QUERY = {query}, BATCH = {batch}, REVEAL_DELAY_MS = {reveal_ms};
const FULL = {full}, PAGE_DATA = new Set({data_docs});
const grid = document.querySelector('[jsname="r5xl"]'), panel = document.querySelector('[data-lhcontainer]');
let offset = {offset}, total = {total}, loading = false, timer = null;

function tile(docId, thumb, page) {{
  const t = document.createElement('div');
  t.className = 't9q'; t.setAttribute('jsname', 'dTDiAc'); t.dataset.docid = docId; t.dataset.lpage = page;
  t.innerHTML = `<div class="k2m"><g-img class="w1"><img class="Zx0" src="${{thumb}}" alt=""></g-img></div>`;
  return t;
}}
function preview(t, loaded) {{
  const id = t.dataset.docid, box = document.createElement('div');
  box.className = 'p8k'; box.dataset.id = id;
  box.innerHTML = `<a class="v2" rel="noopener" href="${{t.dataset.lpage}}" aria-label="Website besuchen">`
    + `<img class="q1" jsname="kn3ccd" alt=""><img class="q4" jsname="JuXqh" src="${{t.querySelector('img').src}}" alt=""></a>`
    + `<h1 id="h-${{id}}">Ergebnis</h1><a class="v3" aria-describedby="h-${{id}}" href="${{t.dataset.lpage}}"><span>Besuchen</span></a>`;
  if (loaded) box.querySelector('[jsname="kn3ccd"]').src = FULL[id];
  return box;
}}
function show(t) {{
  clearTimeout(timer);
  fetch('/api/log/click?doc=' + t.dataset.docid);
  panel.innerHTML = '';
  const next = t.nextElementSibling;
  if (next) panel.appendChild(preview(next, true));       // a preloaded neighbour, first in the DOM
  const own = preview(t, false);
  panel.appendChild(own);
  if (!PAGE_DATA.has(t.dataset.docid)) {{                  // these never load: read them from the page data
    timer = setTimeout(() => {{ own.querySelector('[jsname="kn3ccd"]').src = FULL[t.dataset.docid]; }}, REVEAL_DELAY_MS);
  }}
}}
grid.addEventListener('click', (event) => {{ const t = event.target.closest('[data-docid]'); if (t) show(t); }});
async function load() {{
  if (loading || offset >= total || document.getElementById('xq-consent')) return;
  loading = true;
  const response = await fetch(`/api/results?q=${{encodeURIComponent(QUERY)}}&offset=${{offset}}&n=${{BATCH}}&docids=1`);
  const data = await response.json();
  for (const item of data.items) {{ FULL[item.docid] = item.full; grid.appendChild(tile(item.docid, item.thumb, item.page)); }}
  offset += data.items.length; loading = false;
}}
window.addEventListener('scroll', () => {{
  if (grid.getBoundingClientRect().bottom < window.innerHeight + 200) load();
}});
for (const form of document.querySelectorAll('#xq-consent form')) form.addEventListener('submit', (event) => {{
  event.preventDefault();
  fetch('/api/log/consent?set_eom=' + form.querySelector('[name="set_eom"]').value);
  document.getElementById('xq-consent').remove();
  grid.append(document.getElementById('xq-held').content);   // no results until the dialog is answered
}});
</script></body></html>
"""


def google_page(query: str, items: list[dict], *, batch: int, reveal_delay: float, consent: bool) -> str:
    """Today's Google Images results page: the first ``batch`` of ``items``, the rest on scroll."""
    first = items[:batch]
    tiles = "".join(
        f'<div class="t9q" jsname="dTDiAc" data-docid="{doc_id(i["key"])}" data-lpage="{html.escape(i["page"])}">'
        f'<div class="k2m"><g-img class="w1"><img class="Zx0" src="{html.escape(i["thumb"])}" alt=""></g-img></div></div>'
        for i in first
    )
    # The shape maintained scrapers read: [..., "DOCID", [thumb, h, w], [full, h, w], ...]
    data = [None, [[1, [0, doc_id(i["key"]), [i["thumb"], 96, 128], [data_url(i), 240, 320], None, 0, "rgb(80,80,80)",
                        None, 0, {"2003": [None, "x", i["page"], "Ergebnis"]}]] for i in first]]
    return _GOOGLE.format(
        title=html.escape(query), query=json.dumps(query), batch=batch, reveal_ms=int(reveal_delay * 1000),
        consent=_CONSENT if consent else "", tiles="" if consent else tiles,
        held=f'<template id="xq-held">{tiles}</template>' if consent else "",
        data=_google_escaped(data), full=json.dumps({doc_id(i["key"]): i["full"] for i in first}),
        data_docs=json.dumps([doc_id(i["key"]) for i in first]), offset=len(first), total=len(items),
    )


_GOOGLE_LEGACY = """<!doctype html><html><body>
<div id="grid">{thumbs}</div>
<div class="OuJzKb Yu2Dnd">Looks like you've reached the end</div>
<div class="p7sI2"><a><img class="sFlh5c FyHeAf iPVvYb" src=""></a></div>
<script>
const big = document.querySelector('img.sFlh5c'), link = document.querySelector('div.p7sI2 a');
document.querySelectorAll('img.YQ4gaf').forEach((thumb) => thumb.addEventListener('click', () => {{
  big.src = thumb.src;                         // the encrypted-tbn thumbnail first
  setTimeout(() => {{ big.src = thumb.dataset.full; link.href = thumb.dataset.page; }}, {reveal_ms});
}}));
</script></body></html>"""
_GOOGLE_LEGACY_THUMB = (
    '<div class="H8Rx8c"><g-img><img class="YQ4gaf" src="{thumb}?encrypted-tbn0" '
    'data-full="{full}" data-page="{page}" width="120" height="90"></g-img></div>'
)


def google_legacy_page(items: list[dict], *, reveal_delay: float) -> str:
    """The 2024-25 Google Images page: every result at once, class-named, with an end marker."""
    thumbs = "".join(_GOOGLE_LEGACY_THUMB.format(**{k: html.escape(v) for k, v in i.items()}) for i in items)
    return _GOOGLE_LEGACY.format(thumbs=thumbs, reveal_ms=int(reveal_delay * 1000))


def google_sorry_page(continue_url: str) -> str:
    """Google's block page (served at ``/sorry/index``), in the shape it has had for years."""
    return (
        "<!doctype html><html><head><title>https://www.google.com/search</title></head><body>"
        '<div style="max-width:400px">'
        '<form id="captcha-form" action="index" method="post">'
        '<div id="recaptcha" class="g-recaptcha" data-sitekey="x"></div>'
        f'<input type="hidden" name="continue" value="{html.escape(continue_url)}"></form>'
        "<hr>Our systems have detected unusual traffic from your computer network. "
        "This page checks to see if it's really you sending the requests, and not a robot.</div></body></html>"
    )


_BING = """<!doctype html><html><body><ul class="dgControl_list">{items}</ul></body></html>"""
_BING_ITEM = """<li><a class="iusc" m='{meta}' href="#"><img src="{thumb}"></a></li>"""


def bing_page(items: list[dict]) -> str:
    """Bing Images: every result as ``a.iusc`` with its ``m`` JSON; the second tile's JSON is broken."""
    tiles = [_BING_ITEM.format(meta=html.escape(json.dumps({"murl": i["full"], "purl": i["page"], "turl": i["thumb"]})),
                               thumb=html.escape(i["thumb"])) for i in items]
    if tiles:
        tiles.insert(1, _BING_ITEM.format(meta="{not json", thumb=html.escape(items[0]["thumb"])))
    return _BING.format(items="".join(tiles))
