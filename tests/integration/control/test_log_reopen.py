# SPDX-License-Identifier: MIT
"""Log rotation (docs/control.md, "Signals"): with log.target a file, logrotate renames it and
sends SIGHUP; control opens the file at its path again, so that the next lines go there and
not into the renamed one. The same when the reload is refused (a bad configuration file):
the refusal itself is written to the new file."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, free_port, run


def wait_line(path, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                if text in f.read():
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return False


def lines_of(path):
    with open(path) as f:
        return f.read()


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg, name="ctl-log")
    log = os.path.join(ctl.dir, "control.log")
    with open(ctl.cfg_path) as f:
        cfg = f.read()
    check('listen: ["127.0.0.1:0"]' in cfg and "log: {level: info}" in cfg,
          "the harness's config has the lines this test changes")
    cfg = cfg.replace('listen: ["127.0.0.1:0"]', f'listen: ["127.0.0.1:{free_port()}"]')
    cfg = cfg.replace("log: {level: info}", f"log: {{level: info, target: {log}}}")
    with open(ctl.cfg_path, "w") as f:
        f.write(cfg)
    proc = subprocess.Popen([binary, "--config", ctl.cfg_path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        check(wait_line(log, " ready "), "control's start written to its log file")
        # Rotated: renamed, then SIGHUP.
        os.rename(log, log + ".1")
        proc.send_signal(signal.SIGHUP)
        check(wait_line(log, "configuration reloaded"),
              "the reload's line goes to a new file at the log's path")
        check("configuration reloaded" not in lines_of(log + ".1"),
              "nothing more goes into the rotated file")
        # Rotated again, and the reload refused: the refusal goes to the new file too.
        os.rename(log, log + ".2")
        with open(ctl.cfg_path, "w") as f:
            f.write(cfg + "no_such_key: 1\n")
        proc.send_signal(signal.SIGHUP)
        check(wait_line(log, "keeping the running configuration"),
              "a refused reload's line goes to a new file at the log's path")
        check("keeping the running configuration" not in lines_of(log + ".2"),
              "nothing of the refused reload goes into the rotated file")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    check(rc == 0, f"control exits 0, got {rc}")


run(main)
