"""Small Sphinx fixes for the book's website (loaded from _config.yml, `sphinx.local_extensions`).

1. Sphinx 7.4 writes an inline script twice when an extension registers it
   after the builder has started (`app.add_js_file(None, body=...)`: once as
   filename None, once as ''). sphinx-thebe registers `const THEBE_JS_URL = ...`
   that way, and declaring a `const` twice is a JavaScript error on every page.
   The repeated copies are dropped from each page's scripts.
2. Sphinx copies the static files (book/_static/, the fetched web assets) only
   when some page is rebuilt, so a change to them alone never reached the site.
   When their contents change, every page is rebuilt (chapters are not executed
   again: their outputs come from the execution cache).
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _static_fingerprint(app) -> str:
    digest = hashlib.sha256()
    for entry in app.config.html_static_path:
        root = Path(app.confdir, entry)
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file():
                stat = path.stat()
                digest.update(
                    f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode()
                )
    return digest.hexdigest()


def _rebuild_when_static_files_change(app, env, added, changed, removed):
    fingerprint = _static_fingerprint(app)
    if getattr(env, "site_fixes_static_fingerprint", None) == fingerprint:
        return []
    env.site_fixes_static_fingerprint = fingerprint
    return sorted(env.found_docs - set(added) - set(changed) - set(removed))


# Accessibility (axe-core in tests/test_browser.py): two attributes of the page body
# that docutils and myst-nb write.
BODY_FIXES = [
    # myst-nb names every "Show code cell source" toggle "Toggle hidden content", so
    # the visible words are not in the accessible name (WCAG 2.5.3, label in name).
    # Without the aria-label the summary is named by what it shows.
    ('<summary aria-label="Toggle hidden content">', "<summary>"),
    # docutils puts the references in a role="list" whose items have the deprecated
    # DPUB role doc-biblioentry, which a list may not hold (WCAG 1.3.1): listitem.
    ('role="doc-biblioentry"', 'role="listitem"'),
]


def _fix_body(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body:
        for old, new in BODY_FIXES:
            body = body.replace(old, new)
        context["body"] = body


def setup(app):
    app.connect("html-page-context", _fix_body)
    # After the other handlers (myst-nb adds the widget scripts in this event).
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    app.connect("env-get-outdated", _rebuild_when_static_files_change)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
