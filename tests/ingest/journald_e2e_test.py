#!/usr/bin/env python3
"""tallyd's lines reach a real journald with their priorities (docs/LOGS.md).

When tallyd's stderr is the journal's stream and JOURNAL_STREAM names it, as systemd sets
them for a service, each line goes through libsystemd with PRIORITY (error 3, warning 4, info
6, debug 7) and SYSLOG_IDENTIFIER=tallyd, and nothing is written to the stream. When
JOURNAL_STREAM names another file (a child whose stderr was redirected), tallyd writes its
text lines to stderr as it does everywhere else.

The test runs its own systemd-journald in a private mount namespace: tmpfs over /run (where
libsystemd's socket lives), over /var/log/journal, and a journald.conf of its own, so that the
machine's journal, if there is one, is neither read nor written. Where that cannot be done (not
root, no unshare, no systemd-journald) it exits 77, which ctest reports as skipped.

Usage: journald_e2e_test.py BUILD/bin/tallyd
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
STARTED = []  # every tallyd this test started, killed at its end whatever happened
JOURNALD = "/lib/systemd/systemd-journald"
JOURNAL_DIR = "/run/log/journal"
# No forwarding anywhere (a wall message, the console), no kernel messages: only what tallyd sends.
JOURNALD_CONF = """[Journal]
Storage=volatile
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
ReadKMsg=no
"""


def skip(why):
    print(f"SKIPPED: {why}")
    sys.exit(SKIP)


def wait_until(what, condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"gave up after {timeout} s waiting until {what}")


def mount_tmpfs(path):
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path], check=True)


def private_journal(scratch):
    """Inside the namespace: hides the machine's /run and journal, starts journald."""
    mount_tmpfs("/run")
    os.makedirs("/run/systemd/journal")
    if os.path.isdir("/var/log/journal"):
        mount_tmpfs("/var/log/journal")
    conf = os.path.join(scratch, "journald.conf")
    with open(conf, "w") as f:
        f.write(JOURNALD_CONF)
    if os.path.exists("/etc/systemd/journald.conf"):
        subprocess.run(["mount", "--bind", conf, "/etc/systemd/journald.conf"], check=True)
    if os.path.isdir("/etc/systemd/journald.conf.d"):
        mount_tmpfs("/etc/systemd/journald.conf.d")
    journald = subprocess.Popen([JOURNALD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until("journald listens", lambda: os.path.exists("/run/systemd/journal/socket") and
               os.path.exists("/run/systemd/journal/stdout"), 10)
    return journald


def entries(**match):
    """The journal's entries whose fields equal `match`, as dicts."""
    out = subprocess.run(["journalctl", f"--directory={JOURNAL_DIR}", "-o", "json", "--all",
                          "--no-pager"] + [f"{k}={v}" for k, v in match.items()],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def message(entry):
    """An entry's MESSAGE as text (journalctl gives one with control characters as bytes)."""
    value = entry.get("MESSAGE") or ""
    return bytes(value).decode(errors="replace") if isinstance(value, list) else value


def with_message(found, words):
    return [e for e in found if words in message(e)]


def start_on_journal_stream(tallyd, args, stream_identifier, journal_stream):
    """tallyd with its stdout and stderr connected to journald's stream socket (systemd-cat, as
    systemd connects a service's), and JOURNAL_STREAM set to `journal_stream`: "match" for the
    stream's own device:inode, as systemd sets it, or a literal value."""
    export = ('export JOURNAL_STREAM="$(stat -L -c %d:%i /proc/self/fd/2)"; '
              if journal_stream == "match" else f"export JOURNAL_STREAM={journal_stream}; ")
    process = subprocess.Popen(["systemd-cat", "-t", stream_identifier, "sh", "-c",
                                export + 'exec "$0" "$@"', tallyd] + args)
    STARTED.append(process)
    return process


def stop(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, "tallyd did not exit 0"


def journal_run(tallyd, scratch):
    """JOURNAL_STREAM names tallyd's stderr: its lines go to journald with their priorities."""
    data_dir = os.path.join(scratch, "journal-data")
    os.makedirs(data_dir)
    os.chmod(data_dir, 0o755)  # narrowed with a warning
    tokens = os.path.join(scratch, "tokens.json")
    with open(tokens, "w") as f:
        json.dump({"ingest": ["ingest-token-for-journald"], "admin": ["admin-token-for-journal"]},
                  f)
    process = start_on_journal_stream(
        tallyd, ["--data-dir", data_dir, "--listen", "127.0.0.1:0", "--tokens", tokens,
                 "--log-level", "debug"], "tallyd-stream", "match")
    pid = str(process.pid)
    wait_until("the ready line is in the journal",
               lambda: with_message(entries(_PID=pid), "tallyd ready listen="))
    with open(tokens, "w") as f:
        f.write("not json")
    process.send_signal(signal.SIGHUP)  # an error: the reload fails, the old tokens stay
    wait_until("the failed reload is in the journal",
               lambda: with_message(entries(_PID=pid), "tokens reload failed"))
    stop(process)

    found = entries(_PID=pid)
    for entry in found:
        assert entry.get("SYSLOG_IDENTIFIER") == "tallyd", entry
        assert entry.get("_TRANSPORT") == "journal", f"not sent as a journal entry: {entry}"
    expected = [("tallyd ready listen=", "6"), ("data dir was open to other users", "4"),
                ("tokens reload failed", "3"), ("rocksdb: RocksDB version:", "7")]
    for words, priority in expected:
        matching = with_message(found, words)
        assert len(matching) == 1, f"{words!r}: {len(matching)} entries"
        assert matching[0]["PRIORITY"] == priority, \
            f"{words!r}: PRIORITY={matching[0]['PRIORITY']}, expected {priority}"
        # journald stamps the entry: the message is the event alone.
        assert message(matching[0]).startswith(words.split()[0]), message(matching[0])
    assert not entries(SYSLOG_IDENTIFIER="tallyd-stream"), "text lines on the stream as well"
    print(f"journal: {len(found)} entries; " +
          ", ".join(f"{w.split()[0]}… PRIORITY={p}" for w, p in expected))


def stderr_run(tallyd, scratch):
    """JOURNAL_STREAM names another file: tallyd writes its text lines to stderr."""
    null = os.stat("/dev/null")
    data_dir = os.path.join(scratch, "stderr-data")
    process = start_on_journal_stream(
        tallyd, ["--data-dir", data_dir, "--listen", "127.0.0.1:0"], "tallyd-stderr",
        f"{null.st_dev}:{null.st_ino}")
    pid = str(process.pid)
    wait_until("the ready line is in the journal, from the stream",
               lambda: with_message(entries(_PID=pid), " info tallyd ready listen="))
    stop(process)
    found = entries(_PID=pid)
    for entry in found:
        assert entry.get("SYSLOG_IDENTIFIER") == "tallyd-stderr", entry
        assert entry.get("_TRANSPORT") == "stdout", entry
    print(f"stderr: {len(found)} text lines through the stream, none sent as journal entries")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tallyd = os.path.abspath(sys.argv[1])
    if os.environ.get("TALLY_JOURNALD_NAMESPACE") != "1":
        if os.geteuid() != 0:
            skip("needs root to mount in a private namespace")
        for tool in (JOURNALD, shutil.which("unshare"), shutil.which("journalctl"),
                     shutil.which("systemd-cat")):
            if not tool or not os.access(tool, os.X_OK):
                skip("needs systemd-journald, journalctl, systemd-cat and unshare")
        if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
            skip("cannot make a private mount namespace here")
        env = dict(os.environ, TALLY_JOURNALD_NAMESPACE="1")
        inner = subprocess.run(["timeout", "120", "unshare", "-m", "--propagation", "private",
                                sys.executable, __file__, tallyd], env=env)
        sys.exit(inner.returncode)

    scratch = tempfile.mkdtemp(prefix="tally-journald-")
    journald = private_journal(scratch)
    try:
        journal_run(tallyd, scratch)
        stderr_run(tallyd, scratch)
    finally:
        for process in STARTED:
            if process.poll() is None:
                process.kill()
                process.wait()
        journald.terminate()
        journald.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
