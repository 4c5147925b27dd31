#!/usr/bin/env python3
"""The browser half of `kubesnap-bench console` (Selenium, Debian's headless Chromium).

Environment: CONSOLE_URL (the login URL), NAMESPACE, API (the API server's URL), TOKEN_FILE,
CA_FILE, UPDATES (how many writes to time). Prints one JSON line: the time to a rendered list
(navigation to the first page of rows drawn, with the row count shown), and for each write of a
Snapshot's status straight to the API server, the time until the console's page shows it (a
MutationObserver in the page notes the moment; both clocks are this machine's).
"""
import json
import os
import ssl
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

env = os.environ
base = env["CONSOLE_URL"].split("/login")[0]
namespace = env["NAMESPACE"]
updates = int(env.get("UPDATES", "20"))
token = open(env["TOKEN_FILE"]).read().strip()
context = ssl.create_default_context(cafile=env["CA_FILE"])


def wait(what, condition, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)  # the poll interval of a wait with a deadline
    raise SystemExit(f"timed out waiting for {what}")


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,900"]:
    options.add_argument(arg)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    d.get(env["CONSOLE_URL"])
    d.get(base + "/list/repositories")  # warm: the script and sheet cached, the session set
    started = time.monotonic()
    d.get(base + "/?namespace=" + namespace)
    total = wait("the rendered list", lambda: d.execute_script(
        "const p = document.querySelector('#pager span'); const rows = document.querySelectorAll('#list tbody tr[data-name]').length;"
        "return rows > 0 && p && / of [1-9]/.test(p.textContent) ? p.textContent : null"))
    rendered = time.monotonic() - started
    names = d.execute_script("return [...document.querySelectorAll('#list tbody tr[data-name]')].map(r => r.dataset.name)")
    wait("the watch to open", lambda: "Live" in d.execute_script("return document.getElementById('live').textContent"))
    d.execute_script("""
        window.__seen = null; window.__expect = null;
        new MutationObserver(() => {
          const e = window.__expect; if (!e || window.__seen) return;
          const cell = document.querySelector(`#list tbody tr[data-name="${e.name}"] td[data-column="Phase"]`);
          if (cell && cell.textContent.includes(e.phase)) window.__seen = Date.now();
        }).observe(document.getElementById('list'), {subtree: true, childList: true, characterData: true});""")
    latencies = []
    for i in range(updates):
        name = names[i % len(names)]
        phase = ["Failed", "Ready"][(i // len(names)) % 2]  # a change each time: every row starts Ready
        d.execute_script("window.__seen = null; window.__expect = arguments[0]", {"name": name, "phase": phase})
        body = json.dumps({"status": {"phase": phase}}).encode()
        request = urllib.request.Request(
            f"{env['API']}/apis/kubesnap.io/v1alpha1/namespaces/{namespace}/snapshots/{name}/status", data=body, method="PATCH",
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/merge-patch+json"})
        written = time.time() * 1000
        urllib.request.urlopen(request, context=context, timeout=30).read()
        seen = wait(f"{name} shown {phase}", lambda: d.execute_script("return window.__seen"), timeout=30)
        latencies.append(seen - written)
    print(json.dumps({"rendered_seconds": rendered, "pager": total, "latencies_ms": latencies}))
finally:
    d.quit()
