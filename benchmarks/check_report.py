#!/usr/bin/env python3
"""Open a run's report.html in a real headless browser and check every picture decoded.

Usage: ``python benchmarks/check_report.py RUN_DIR_OR_REPORT [--chromium /usr/bin/chromium]``

A copy of the report with a small checking script appended is written next to it (so
relative links resolve as in the original), loaded with ``chromium --headless --dump-dom``,
and removed. The script runs after the page's load event and records how many ``<img>``
elements there are and which did not decode (``naturalWidth == 0``). Exit 0 when the page
loaded, has at least one picture and every picture decoded; 1 otherwise (the broken ones
are listed); 2 when the browser is missing or fails to start.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
MARK = "zsbench-report-check"
PROBE = f"""
<script>
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) {{ return !(i.complete && i.naturalWidth > 0); }})
                   .map(function (i) {{ return i.getAttribute("alt") || i.src.slice(0, 80); }});
  var out = document.createElement("pre");
  out.id = "{MARK}";
  out.textContent = JSON.stringify({{title: document.title, images: imgs.length,
                                     broken: broken, tables: document.tables ?
                                     document.tables.length :
                                     document.getElementsByTagName("table").length}});
  document.body.appendChild(out);
}});
</script>
"""


def find_chromium(given: str | None = None) -> str | None:
    """The chromium executable: ``given``, /usr/bin/chromium, or one on the PATH."""
    for candidate in (given, CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser"),
                      shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def dump_dom(page: Path, *, chromium: str, budget_ms: int,
             timeout: float) -> subprocess.CompletedProcess:
    """``page`` loaded by headless ``chromium`` in a fresh profile, its scripts given
    ``budget_ms`` of virtual time; the finished DOM is the process's stdout."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", Path(page).as_uri()],
            capture_output=True, text=True, timeout=timeout)


def check_report(report: Path, *, chromium: str, timeout: float = 120.0) -> dict:
    """Load ``report`` in headless chromium; return ``{"title", "images", "broken",
    "tables"}`` as the page saw it. Raises RuntimeError when the browser gives no answer."""
    report = Path(report).resolve()
    text = report.read_text(encoding="utf-8")
    probe = text.replace("</body>", PROBE + "</body>") if "</body>" in text else text + PROBE
    with tempfile.NamedTemporaryFile("w", suffix=".html", prefix=".check-", dir=report.parent,
                                     delete=False, encoding="utf-8") as fh:
        fh.write(probe)
        copy = Path(fh.name)
    try:
        proc = dump_dom(copy, chromium=chromium, budget_ms=20000, timeout=timeout)
    finally:
        copy.unlink(missing_ok=True)
    found = re.search(rf'<pre id="{MARK}">(.*?)</pre>', proc.stdout, re.S)
    if not found:
        raise RuntimeError(f"chromium gave no result (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-800:]}")
    import html

    return json.loads(html.unescape(found.group(1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a run folder or its report.html")
    parser.add_argument("--chromium", help=f"browser executable (default {CHROMIUM})")
    args = parser.parse_args(argv)
    target = Path(args.target)
    report = target / "report.html" if target.is_dir() else target
    if not report.is_file():
        print(f"check_report: {report}: no such file (build it with `zsbench report RUN_DIR`)",
              file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("check_report: no chromium found (Debian: apt-get install -y chromium)",
              file=sys.stderr)
        return 2
    try:
        seen = check_report(report, chromium=chromium)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"check_report: {exc}", file=sys.stderr)
        return 2
    print(f"{report}: title {seen['title']!r}, {seen['tables']} table(s), "
          f"{seen['images']} picture(s), {len(seen['broken'])} broken")
    for b in seen["broken"]:
        print(f"  broken: {b}")
    return 0 if seen["images"] > 0 and not seen["broken"] else 1


if __name__ == "__main__":
    sys.exit(main())
