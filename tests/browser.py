"""One real headless Chromium per test process, driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: JSON messages ended by a NUL byte, commands on the browser's fd 3,
answers and events on its fd 4). Starting Chromium costs about a second; the report tests open a
dozen pages, so they share one browser and open each page in a fresh tab.

`Browser.open(url)` waits for the page's load event (its inline scripts have run) and returns
the DOM as the scripts left it plus everything the page reported: console calls, uncaught
exceptions and the browser's own log entries (failed loads, blocked content).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and os.path.exists(p)), None)
SKIP_REASON = ("chromium not installed (Debian: apt-get install chromium); .ci/run installs it")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe"]
TIMEOUT_S = 60


@dataclass(frozen=True)
class Page:
    dom: str  # document.documentElement.outerHTML after the load event
    messages: list[str]  # console calls, uncaught exceptions, browser log entries
    screenshot: bytes | None = None  # PNG of the viewport, when asked for


class Browser:
    def __init__(self) -> None:
        assert CHROMIUM is not None, SKIP_REASON
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser wants the pipe on fds 3 and 4 exactly: bash puts it there, from fds
        # above 9 (a pipe end already on 3 or 4 would be overwritten by the other redirection).
        to_browser_r, from_browser_w = (_above_9(to_browser_r), _above_9(from_browser_w))
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self._process = subprocess.Popen(
            ["bash", "-c", script, CHROMIUM, *FLAGS, f"--user-data-dir={self._profile.name}",
             "about:blank"], pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    # -- the protocol --------------------------------------------------------------------------
    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def _receive(self) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            assert ready, f"Chromium said nothing for {TIMEOUT_S} s"
            chunk = os.read(self._from_browser, 1 << 20)
            assert chunk, f"Chromium exited (status {self._process.poll()})"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _wait_for(self, method: str, session: str) -> None:
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self._events[i]
                    return
            self._events.append(self._receive())

    # -- pages ---------------------------------------------------------------------------------
    def open(self, url: str, *, width: int = 1280, height: int = 900,
             screenshot: bool = False) -> Page:
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget",
                             {"targetId": target, "flatten": True})["sessionId"]
        try:
            for domain in ("Page", "Runtime", "Log"):
                self._send(f"{domain}.enable", session=session)
            self._send("Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": height, "deviceScaleFactor": 1,
                        "mobile": False}, session=session)
            self._events.clear()
            navigated = self._send("Page.navigate", {"url": url}, session=session)
            assert not navigated.get("errorText"), f"{url}: {navigated['errorText']}"
            self._wait_for("Page.loadEventFired", session)
            dom = self._send("Runtime.evaluate",
                             {"expression": "document.documentElement.outerHTML",
                              "returnByValue": True}, session=session)["result"]["value"]
            shot = None
            if screenshot:
                data = self._send("Page.captureScreenshot", {"format": "png"},
                                  session=session)["data"]
                shot = base64.b64decode(data)
            messages = [_describe(e) for e in self._events if e.get("sessionId") == session
                        and e.get("method") in ("Runtime.consoleAPICalled",
                                                "Runtime.exceptionThrown", "Log.entryAdded")]
            return Page(dom, messages, shot)
        finally:
            self._send("Target.closeTarget", {"targetId": target})
            self._events.clear()

    def close(self) -> None:
        try:
            self._send("Browser.close")
        except (AssertionError, OSError, RuntimeError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self._profile.cleanup()


def _above_9(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


def _describe(event: dict) -> str:
    params = event["params"]
    if event["method"] == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        return f"console.{params['type']}: {text}"
    if event["method"] == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return f"uncaught: {details.get('exception', {}).get('description') or details['text']}"
    entry = params["entry"]
    return f"log {entry['level']} ({entry['source']}): {entry['text']} {entry.get('url', '')}"

