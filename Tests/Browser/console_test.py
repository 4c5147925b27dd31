#!/usr/bin/env python3
"""The web console in a real headless Chromium (Debian's chromium + chromium-driver, Selenium).

Run by Tests/KubesnapE2ETests/ConsoleBrowserTests.swift against `kubesnap dev` (the admin's
console) and a `kubesnap console` for the tenant alice; everything it checks in the page it
checks again with kubectl or restic. Every wait is a condition with a deadline that says what it
saw. Environment: CONSOLE_URL, TENANT_URL (login URLs), KUBECONFIG, WORKDIR (the source root),
REPOSITORIES (dev's repository root), RESTIC, SCREENSHOTS (a directory).
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ENV = os.environ
WORKDIR = ENV["WORKDIR"]
SHOTS = ENV["SCREENSHOTS"]
PASSWORD = "change-me-demo-password"
COLUMNS = ["Name", "Namespace", "Repository", "Invoker Kind", "Invoker Name", "Backend Repository",
           "Creation Timestamp", "Deletion Policy", "Phase", "Verification Status", "Age"]


def kubectl(*args, stdin=None, check=True):
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result


def get(kind, name, ns):
    result = kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def restic_ids(repository):
    env = dict(ENV, RESTIC_PASSWORD=PASSWORD, RESTIC_REPOSITORY=os.path.join(ENV["REPOSITORIES"], repository),
               RESTIC_CACHE_DIR=os.path.join(WORKDIR, "restic-cache"))
    out = subprocess.run([ENV["RESTIC"], "snapshots", "--json", "--no-lock"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return {s["id"] for s in json.loads(out.stdout or "[]") or []}


def wait_for(what, condition, timeout=30, seen=lambda: ""):
    """Polls `condition` until truthy; on the deadline fails saying what was last seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (StaleElementReferenceException, NoSuchElementException, AssertionError, KeyError) as e:
            last = e
        time.sleep(0.1)  # the poll interval of this wait, which has a deadline
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {seen() or last}")


def snapshot_yaml(name, ns, repository="app-repo", path="data/app", policy="Delete", annotations=None, description=None):
    meta = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    spec = {"repository": repository, "source": {"path": path}, "deletionPolicy": policy}
    if description:
        spec["description"] = description
    return json.dumps({"apiVersion": "kubesnap.io/v1alpha1", "kind": "Snapshot", "metadata": meta, "spec": spec})


def setup_namespace(ns, repository="app-repo", repo_path=None):
    kubectl("create", "namespace", ns)
    kubectl("create", "secret", "generic", "app-repo-password", "-n", ns, f"--from-literal=password={PASSWORD}")
    kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "kubesnap.io/v1alpha1", "kind": "Repository", "metadata": {"name": repository, "namespace": ns},
        "spec": {"backend": {"local": {"path": repo_path or f"{ns}/{repository}"}},
                 "encryptionSecret": {"name": "app-repo-password"}, "target": "Directory data/app"}}))


def wait_ready(name, ns, timeout=90):
    return wait_for(f"Snapshot {ns}/{name} Ready and verified",
                    lambda: (lambda o: o if o and o["status"].get("phase") == "Ready" and o["status"].get("verificationStatus") == "OK" else None)(get("snap", name, ns)),
                    timeout, seen=lambda: json.dumps((get("snap", name, ns) or {}).get("status")))


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,900", "--force-device-scale-factor=1"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    return driver


def base(url):
    return url.split("/login")[0]


def header_names(d):
    return [th.text.replace("▲", "").replace("▼", "").strip() for th in d.find_elements(By.CSS_SELECTOR, "#list thead th")]


def row(d, name):
    rows = d.find_elements(By.CSS_SELECTOR, f'#list tbody tr[data-name="{name}"]')
    return rows[0] if rows else None


def cell(d, name, column):
    r = row(d, name)
    return r.find_element(By.CSS_SELECTOR, f'td[data-column="{column}"]').text if r else None


def field(d, label, within=None):
    scope = d.find_element(By.CSS_SELECTOR, f'section[aria-label="{within}"]') if within else d
    return scope.find_element(By.CSS_SELECTOR, f'dd[data-field="{label}"]').text


def shoot(d, name):
    d.save_screenshot(os.path.join(SHOTS, name))


CHECKS = []


def check(f):
    CHECKS.append(f)
    return f


class Ctx:
    pass


c = Ctx()


@check
def refused_without_cookie():
    # No cookie: the page says how to get in, the API answers 401; a wrong login token too.
    for path in ["/", "/api/table/snapshots"]:
        try:
            urllib.request.urlopen(base(ENV["CONSOLE_URL"]) + path, timeout=10)
            raise AssertionError(f"{path} answered without a session")
        except urllib.error.HTTPError as e:
            assert e.code == 401, f"{path}: {e.code}"
    c.d.get(base(ENV["CONSOLE_URL"]) + "/")
    assert "Sign in" in c.d.page_source and "kubesnap console" in c.d.page_source
    c.d.get(base(ENV["CONSOLE_URL"]) + "/login?token=wrong")
    assert "Sign in" in c.d.find_element(By.TAG_NAME, "h1").text


@check
def login_and_columns():
    c.d.get(ENV["CONSOLE_URL"])
    wait_for("the Snapshots list", lambda: header_names(c.d) == COLUMNS, seen=lambda: header_names(c.d))
    cookie = c.d.get_cookie("kubesnap_console")
    assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie
    wait_for("the first snapshot's row", lambda: row(c.d, "first"), seen=lambda: c.d.find_element(By.ID, "list").text)


@check
def namespace_selector():
    select = Select(c.d.find_element(By.ID, "namespace"))
    offered = [o.text for o in select.options]
    assert "demo" in offered and "other" in offered and offered[0] == "All namespaces", offered
    wait_for("rows of two namespaces", lambda: row(c.d, "first") and row(c.d, "elsewhere"))
    select.select_by_visible_text("demo")
    wait_for("only demo's rows", lambda: "namespace=demo" in c.d.current_url and row(c.d, "first") and not row(c.d, "elsewhere"),
             seen=lambda: c.d.find_element(By.ID, "list").text)
    assert cell(c.d, "first", "Namespace") == "demo"


@check
def sort_and_filter():
    for n in ["b-second", "a-third"]:
        kubectl("apply", "-f", "-", stdin=snapshot_yaml(n, "demo"))
    wait_for("three rows", lambda: row(c.d, "b-second") and row(c.d, "a-third"))
    def names():
        return [r.get_attribute("data-name") for r in c.d.find_elements(By.CSS_SELECTOR, "#list tbody tr")]

    def sort_by_name(direction):
        # The list redraws as the new Snapshots change; a click on a header just redrawn is retried.
        header = c.d.find_elements(By.CSS_SELECTOR, "#list thead th")[0]
        if header.get_attribute("aria-sort") != direction:
            header.find_element(By.TAG_NAME, "button").click()
        return c.d.find_elements(By.CSS_SELECTOR, "#list thead th")[0].get_attribute("aria-sort") == direction

    wait_for("sorted by name, descending", lambda: sort_by_name("descending") and names()[:1] == ["first"], seen=names)
    wait_for("sorted by name, ascending", lambda: sort_by_name("ascending") and names()[:1] == ["a-third"], seen=names)
    box = c.d.find_element(By.ID, "filter")
    box.send_keys("sec")
    wait_for("the filter", lambda: [r.get_attribute("data-name") for r in c.d.find_elements(By.CSS_SELECTOR, "#list tbody tr")] == ["b-second"])
    box.clear()
    box.send_keys(" ")
    box.clear()
    c.d.get(base(ENV["CONSOLE_URL"]) + "/?namespace=demo")
    for n in ["b-second", "a-third"]:
        wait_ready(n, "demo")


@check
def live_without_reload():
    wait_for("the list", lambda: row(c.d, "first"))
    c.d.execute_script("window.__sameDocument = 42")
    kubectl("apply", "-f", "-", stdin=snapshot_yaml("live", "demo"))
    wait_for("the new Snapshot's row", lambda: row(c.d, "live"), seen=lambda: c.d.find_element(By.ID, "list").text)
    wait_for("its phase Ready and verification OK on screen",
             lambda: cell(c.d, "live", "Phase") == "✓ Ready" or (cell(c.d, "live", "Phase") or "").endswith("Ready") and "OK" in (cell(c.d, "live", "Verification Status") or ""),
             timeout=90, seen=lambda: f'{cell(c.d, "live", "Phase")} / {cell(c.d, "live", "Verification Status")}')
    wait_for("verification OK on screen", lambda: "OK" in (cell(c.d, "live", "Verification Status") or ""), timeout=90)
    assert c.d.execute_script("return window.__sameDocument") == 42, "the page reloaded"
    shoot(c.d, "console-list.png")


@check
def detail_matches_kubectl():
    o = get("snap", "first", "demo")
    repo = get("repo", "app-repo", "demo")
    c.d.find_element(By.LINK_TEXT, "first").click()
    wait_for("the detail page", lambda: c.d.find_elements(By.CSS_SELECTOR, 'section[aria-label="Basic"]'))
    st, spec, meta = o["status"], o["spec"], o["metadata"]
    expected = {"Name": meta["name"], "Namespace": meta["namespace"], "UID": meta["uid"], "Deletion Policy": st["deletionPolicy"],
                "Snapshot ID": st["snapshotID"], "Time": st["snapshotTime"], "Files": str(st["fileCount"])}
    for label, want in expected.items():
        assert field(c.d, label, "Basic") == want, f"{label}: {field(c.d, label, 'Basic')!r} != {want!r}"
    assert field(c.d, "Phase", "Basic").endswith("Ready") and field(c.d, "Verification Status", "Basic").endswith("OK")
    assert field(c.d, "Name", "Repository") == repo["metadata"]["name"]
    assert field(c.d, "BackupStorage", "Repository") == repo["status"]["storage"]
    assert field(c.d, "Target", "Repository") == repo["spec"]["target"]
    assert field(c.d, "Backend", "Repository") == repo["status"]["backendURL"]
    assert "Made by hand" in c.d.find_element(By.CSS_SELECTOR, 'section[aria-label="Invoker"]').text
    shown = c.d.find_element(By.CSS_SELECTOR, 'section[aria-label="Events"]').text
    recorded = json.loads(kubectl("get", "events", "-n", "demo", "--field-selector", "involvedObject.kind=Snapshot,involvedObject.name=first", "-o", "json").stdout)["items"]
    assert recorded, "kubectl shows no Events for the Snapshot"
    for event in recorded:
        assert event["reason"] in shown and event["message"] in shown, f"{event['reason']}: {event['message']} not in {shown}"
    assert c.d.find_elements(By.CSS_SELECTOR, "#conditions tbody tr"), "no conditions"
    shoot(c.d, "console-detail.png")


@check
def invoker_link_for_a_session_snapshot():
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "kubesnap.io/v1alpha1", "kind": "BackupSession",
             "metadata": {"name": "nightly-1", "namespace": "demo"}, "spec": {"repositories": ["app-repo"], "source": {"path": "data/app"}}}))
    name = wait_for("the session's Snapshot", lambda: next((s["metadata"]["name"] for s in json.loads(kubectl("get", "snap", "-n", "demo", "-o", "json").stdout)["items"]
                                                             if (s["spec"].get("invoker") or {}).get("name") == "nightly-1"), None), timeout=60)
    c.d.get(base(ENV["CONSOLE_URL"]) + f"/object/snapshots/demo/{name}")
    wait_for("the Invoker section", lambda: field(c.d, "Kind", "Invoker") == "BackupSession" and field(c.d, "Name", "Invoker") == "nightly-1")
    href = c.d.find_element(By.CSS_SELECTOR, 'section[aria-label="Invoker"] a').get_attribute("href")
    assert href.endswith("/object/backupsessions/demo/nightly-1"), href


@check
def xss_shows_as_text():
    evil = "<script>window.__xss=1</script>"
    kubectl("apply", "-f", "-", stdin=snapshot_yaml("xss", "demo", annotations={"note": evil}, description='<img src=x onerror="window.__xss=2">'))
    c.d.get(base(ENV["CONSOLE_URL"]) + "/object/snapshots/demo/xss")
    wait_for("the annotation chip", lambda: evil in c.d.find_element(By.CSS_SELECTOR, 'section[aria-label="Basic"]').text)
    assert field(c.d, "Description", "Basic") == '<img src=x onerror="window.__xss=2">'
    assert c.d.execute_script("return window.__xss === undefined"), "a user string ran as script"
    assert not c.d.find_elements(By.CSS_SELECTOR, 'section img'), "a user string became an element"


def open_delete(name, ns="demo"):
    c.d.get(base(ENV["CONSOLE_URL"]) + f"/object/snapshots/{ns}/{name}")
    wait_for("the Delete button", lambda: c.d.find_elements(By.ID, "delete")).__getitem__(0).click()
    return wait_for("the confirmation", lambda: c.d.find_elements(By.CSS_SELECTOR, "dialog[open]"))[0]


@check
def delete_refused_without_checkbox():
    dialog = open_delete("a-third")
    text = dialog.text
    assert "Deletion policy Delete" in text and "the data is removed from local:" in text and "cannot be undone" in text, text
    shoot(c.d, "console-delete.png")
    dialog.find_element(By.ID, "confirm-delete-button").click()
    wait_for("the refusal", lambda: "Tick the box" in dialog.find_element(By.ID, "delete-error").text)
    assert get("snap", "a-third", "demo") is not None and not get("snap", "a-third", "demo")["metadata"].get("deletionTimestamp")
    dialog.find_element(By.ID, "cancel-delete").click()


@check
def delete_with_delete_policy_removes_the_data():
    o = get("snap", "a-third", "demo")
    short = o["status"]["snapshotID"][:8]
    assert any(i.startswith(short) for i in restic_ids("demo/app-repo"))
    dialog = open_delete("a-third")
    dialog.find_element(By.ID, "confirm-delete").click()
    button = dialog.find_element(By.ID, "confirm-delete-button")
    button.click()
    assert button.text == "Deleting..." and not button.is_enabled(), (button.text, button.is_enabled())
    wait_for("back on the list", lambda: "/object/" not in c.d.current_url and c.d.find_elements(By.ID, "list"), timeout=60)
    wait_for("the row gone", lambda: row(c.d, "first") and not row(c.d, "a-third"))
    assert get("snap", "a-third", "demo") is None
    assert not any(i.startswith(short) for i in restic_ids("demo/app-repo")), "Delete left the data"


@check
def delete_with_retain_keeps_the_data():
    kubectl("patch", "snap", "b-second", "-n", "demo", "--type", "merge", "-p", '{"spec":{"deletionPolicy":"Retain"}}')
    o = get("snap", "b-second", "demo")
    short = o["status"]["snapshotID"][:8]
    dialog = open_delete("b-second")
    wait_for("the Retain policy", lambda: "Retain: the data stays in local:" in dialog.text, seen=lambda: dialog.text)
    dialog.find_element(By.ID, "confirm-delete").click()
    dialog.find_element(By.ID, "confirm-delete-button").click()
    wait_for("back on the list", lambda: "/object/" not in c.d.current_url, timeout=60)
    assert get("snap", "b-second", "demo") is None
    assert any(i.startswith(short) for i in restic_ids("demo/app-repo")), "Retain lost the data"


@check
def last_verified_warning():
    setup_namespace("solo")
    kubectl("apply", "-f", "-", stdin=snapshot_yaml("only", "solo"))
    wait_ready("only", "solo")
    dialog = open_delete("only", "solo")
    assert "last verified snapshot" in dialog.find_element(By.ID, "last-verified").text
    dialog.find_element(By.ID, "cancel-delete").click()


@check
def blocked_deletion_shows_why():
    # A wrong password in the Secret: the Delete cannot reach the data and says so.
    kubectl("patch", "secret", "app-repo-password", "-n", "solo", "--type", "merge", "-p", '{"stringData":{"password":"wrong"}}')
    wait_for("the Repository to fail", lambda: (get("repo", "app-repo", "solo") or {}).get("status", {}).get("phase") == "Failed", timeout=60)
    dialog = open_delete("only", "solo")
    dialog.find_element(By.ID, "confirm-delete").click()
    dialog.find_element(By.ID, "confirm-delete-button").click()
    wait_for("the waiting deletion's message", lambda: "The deletion is waiting" in dialog.find_element(By.ID, "delete-progress").text and "password" in dialog.find_element(By.ID, "delete-progress").text,
             timeout=60, seen=lambda: dialog.text)
    kubectl("patch", "secret", "app-repo-password", "-n", "solo", "--type", "merge", "-p", json.dumps({"stringData": {"password": PASSWORD}}))
    wait_for("the deletion to finish once the password is right", lambda: "/object/" not in c.d.current_url, timeout=90)


@check
def csrf_token_required():
    c.d.get(base(ENV["CONSOLE_URL"]) + "/?namespace=demo")
    wait_for("the list", lambda: row(c.d, "first"))
    status = c.d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/delete/snapshots/demo/first', {method: 'POST', credentials: 'same-origin'}).then(r => done(r.status));""")
    assert status == 403, status
    assert get("snap", "first", "demo") is not None and not get("snap", "first", "demo")["metadata"].get("deletionTimestamp")


@check
def restore_from_the_detail_page():
    target = os.path.join(WORKDIR, "data/app")
    with open(os.path.join(target, "a.txt"), "w") as f:
        f.write("changed\n")
    with open(os.path.join(target, "extra.txt"), "w") as f:
        f.write("not in the snapshot\n")
    c.d.get(base(ENV["CONSOLE_URL"]) + "/object/snapshots/demo/first")
    wait_for("the Restore button", lambda: c.d.find_elements(By.ID, "restore"))[0].click()
    dialog = wait_for("the restore confirmation", lambda: c.d.find_elements(By.CSS_SELECTOR, "dialog[open]"))[0]
    assert "data/app" in dialog.find_element(By.ID, "restore-target").text
    pre = dialog.find_element(By.ID, "restore-pre").text
    assert "-pre-restore" in pre, pre
    dialog.find_element(By.ID, "confirm-restore").click()
    wait_for("the RestoreSession's page", lambda: "/object/restoresessions/demo/" in c.d.current_url, timeout=30)
    name = c.d.current_url.rsplit("/", 1)[1]
    wait_for("Succeeded on screen", lambda: "Succeeded" in c.d.find_element(By.CSS_SELECTOR, ".title").text, timeout=120,
             seen=lambda: json.dumps((get("rst", name, "demo") or {}).get("status")))
    with open(os.path.join(target, "a.txt")) as f:
        assert f.read() == "hello\n"
    assert not os.path.exists(os.path.join(target, "extra.txt"))
    assert get("snap", name + "-pre-restore", "demo") is not None
    c.d.get(base(ENV["CONSOLE_URL"]) + "/list/restoresessions?namespace=demo")
    wait_for("the RestoreSessions list", lambda: row(c.d, name) and "Snapshot" in header_names(c.d), seen=lambda: header_names(c.d))


@check
def other_lists_have_their_printer_columns():
    c.d.get(base(ENV["CONSOLE_URL"]) + "/list/repositories?namespace=demo")
    wait_for("the Repositories columns", lambda: header_names(c.d) == ["Name", "Namespace", "BackupStorage", "Size", "Target", "Snapshots", "Status", "Age"],
             seen=lambda: header_names(c.d))
    c.d.get(base(ENV["CONSOLE_URL"]) + "/list/backupsessions?namespace=demo")
    wait_for("the BackupSessions list", lambda: row(c.d, "nightly-1"))
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "kubesnap.io/v1alpha1", "kind": "BackupSchedule",
             "metadata": {"name": "nightly", "namespace": "demo"},
             "spec": {"schedule": "0 2 * * *", "timeZone": "Europe/Berlin", "source": {"path": "data/app"}, "repositories": ["app-repo"], "suspend": True}}))
    c.d.get(base(ENV["CONSOLE_URL"]) + "/list/backupschedules?namespace=demo")
    wait_for("the BackupSchedules columns", lambda: row(c.d, "nightly") and header_names(c.d) == [
        "Name", "Namespace", "Schedule", "Time Zone", "Suspend", "Last Schedule", "Next Schedule", "Last Successful", "Age"],
        seen=lambda: header_names(c.d))
    assert cell(c.d, "nightly", "Time Zone") == "Europe/Berlin", cell(c.d, "nightly", "Time Zone")


@check
def phone_layout():
    c.d.set_window_size(390, 844)
    c.d.get(base(ENV["CONSOLE_URL"]) + "/?namespace=demo")
    wait_for("the list", lambda: row(c.d, "first"))
    width = c.d.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"
    shoot(c.d, "console-phone.png")
    c.d.set_window_size(1440, 900)


@check
def keyboard_reaches_the_controls():
    c.d.get(base(ENV["CONSOLE_URL"]) + "/?namespace=demo")
    wait_for("the list", lambda: row(c.d, "first"))
    reached = set()
    body = c.d.find_element(By.TAG_NAME, "body")
    for _ in range(40):
        body.send_keys("\ue004")  # Tab
        active = c.d.switch_to.active_element
        reached.add(active.get_attribute("id") or active.tag_name + ":" + (active.text or "")[:20])
    assert "namespace" in reached and "filter" in reached and any(r.startswith("a:") for r in reached), reached
    for control in c.d.find_elements(By.CSS_SELECTOR, "select, input"):
        label = control.get_attribute("aria-label") or c.d.find_elements(By.CSS_SELECTOR, f'label[for="{control.get_attribute("id")}"]')
        assert label, f"unlabelled control {control.get_attribute('outerHTML')}"


@check
def tenant_sees_only_their_namespace():
    t = c.tenant
    t.get(ENV["TENANT_URL"])
    hint = wait_for("the namespace hint", lambda: t.find_elements(By.ID, "namespace-hint"))[0].text
    assert "may not list namespaces" in hint, hint
    box = t.find_element(By.ID, "namespace")
    box.send_keys("a")
    box.submit()
    wait_for("a's Snapshot", lambda: row(t, "tenant-snap"), seen=lambda: t.find_element(By.TAG_NAME, "body").text)
    t.get(base(ENV["TENANT_URL"]) + "/?namespace=b")
    wait_for("the 403 message", lambda: "forbidden" in t.find_element(By.ID, "messages").text and 'cannot list resource "snapshots"' in t.find_element(By.ID, "messages").text,
             seen=lambda: t.find_element(By.TAG_NAME, "body").text)
    t.get(base(ENV["TENANT_URL"]) + "/object/snapshots/a/tenant-snap")
    wait_for("the Delete button", lambda: t.find_elements(By.ID, "delete"))[0].click()
    dialog = wait_for("the confirmation", lambda: t.find_elements(By.CSS_SELECTOR, "dialog[open]"))[0]
    dialog.find_element(By.ID, "confirm-delete").click()
    dialog.find_element(By.ID, "confirm-delete-button").click()
    wait_for("the refusal", lambda: 'cannot delete resource "snapshots"' in dialog.find_element(By.ID, "delete-error").text, seen=lambda: dialog.text)
    assert get("snap", "tenant-snap", "a") is not None


def main():
    os.makedirs(os.path.join(WORKDIR, "data/app"), exist_ok=True)
    with open(os.path.join(WORKDIR, "data/app/a.txt"), "w") as f:
        f.write("hello\n")
    setup_namespace("demo")
    setup_namespace("other")
    for ns, name in [("demo", "first"), ("other", "elsewhere")]:
        kubectl("apply", "-f", "-", stdin=snapshot_yaml(name, ns))
    # The tenant: alice may read Snapshots in a, nothing in b.
    for ns in ["a", "b"]:
        setup_namespace(ns)
    kubectl("create", "role", "snapshot-reader", "-n", "a", "--verb=get,list,watch", "--resource=snapshots.kubesnap.io,repositories.kubesnap.io")
    kubectl("create", "rolebinding", "alice-reads", "-n", "a", "--role=snapshot-reader", "--user=alice")
    kubectl("apply", "-f", "-", stdin=snapshot_yaml("tenant-snap", "a"))
    wait_ready("first", "demo")
    wait_ready("elsewhere", "other")
    c.d = browser()
    c.tenant = browser()
    failures = 0
    try:
        for f in CHECKS:
            started = time.monotonic()
            try:
                f()
                print(f"ok {f.__name__} ({time.monotonic() - started:.1f}s)", flush=True)
            except Exception as e:
                failures += 1
                print(f"FAIL {f.__name__}: {type(e).__name__}: {e}", flush=True)
                try:
                    c.d.save_screenshot(os.path.join(WORKDIR, f"failure-{f.__name__}.png"))
                    print("  page: " + c.d.find_element(By.TAG_NAME, "body").text[:800].replace("\n", " | "), flush=True)
                    for entry in c.d.get_log("browser")[-10:]:
                        print("  console: " + entry.get("message", ""), flush=True)
                except Exception:
                    pass
    finally:
        c.d.quit()
        c.tenant.quit()
    print(f"{len(CHECKS) - failures} of {len(CHECKS)} checks passed", flush=True)
    sys.exit(1 if failures else 0)


main()
