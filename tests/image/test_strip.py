# SPDX-License-Identifier: MIT
"""The appliance's binaries are stripped as the package's are (no image, no qemu).

    python3 test_strip.py SOURCE_DIR BINARY

tools/image copied sluice-edge and sluice-fill from the DESTDIR as they were, symbol table and
debug information included. It now runs them through tools/strip-elf, as tools/deb does the
package's. Checked here: tools/image strips every binary it installs into the root's
/usr/bin, and tools/strip-elf, run on a copy of BINARY (an ELF with a symbol table), leaves
no symbol table or debug section and the same build id, writes what it took to
DEBUG_DIR/.build-id/XX/REST.debug (a file with the symbol table), prints that build id, and
leaves a file that is not ELF as it was.

Exit status: 0 passed, 1 failed, 77 skipped (no readelf).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "install"))
from test_deb import SKIP, elf_sections, fail, run  # noqa: E402


def build_id(path):
    m = re.search(r"Build ID: ([0-9a-f]+)", run(["readelf", "-n", path], "readelf -n"))
    return m.group(1) if m else None


def image_strips_what_it_installs(src):
    """Every binary tools/image installs into "$root/usr/bin/" is named to tools/strip-elf
    after the install."""
    with open(os.path.join(src, "tools", "image")) as f:
        text = f.read()
    m = re.search(r'^install -m 0755 ((?:"\$destdir/usr/bin/[^"]+" )+)"\$root/usr/bin/"$', text,
                  re.M)
    if not m:
        fail("tools/image installs no binary into $root/usr/bin (the test's pattern is stale)")
    installed = re.findall(r'/usr/bin/([^"]+)"', m.group(1))
    strip = re.search(r'^"\$top/tools/strip-elf" "\$debug"((?: "\$root/usr/bin/[^"]+")+)',
                      text[m.end():], re.M)
    stripped = re.findall(r'/usr/bin/([^"]+)"', strip.group(1)) if strip else []
    left = sorted(set(installed) - set(stripped))
    if left:
        fail(f"tools/image installs {' '.join(left)} unstripped (tools/strip-elf after the "
             "install)")
    print(f"ok - tools/image strips what it installs: {' '.join(installed)}")


def strip_elf_strips(src, binary):
    work = tempfile.mkdtemp(prefix="sluice-strip-test-")
    try:
        elf = os.path.join(work, "sluice-edge")
        shutil.copy2(binary, elf)
        if ".symtab" not in elf_sections(elf):
            fail(f"{binary} has no symbol table: nothing to check the stripping with")
        want = build_id(elf)
        if not want:
            fail(f"{binary} has no build id")
        text = os.path.join(work, "notes.txt")
        with open(text, "w") as f:
            f.write("not ELF\n")
        debug = os.path.join(work, "debug")
        p = subprocess.run([os.path.join(src, "tools", "strip-elf"), debug, elf, text],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            fail(f"tools/strip-elf exited {p.returncode}", p.stdout + p.stderr)
        if p.stdout.split() != [want]:
            fail(f"tools/strip-elf printed {p.stdout!r}, want the build id {want}")
        left = sorted(x for x in elf_sections(elf)
                      if x == ".symtab" or x.startswith((".debug", ".zdebug")))
        if left:
            fail(f"the stripped binary still has {' '.join(left)}")
        if build_id(elf) != want:
            fail(f"the stripped binary's build id is {build_id(elf)}, was {want}")
        dbg = os.path.join(debug, ".build-id", want[:2], want[2:] + ".debug")
        if not os.path.isfile(dbg) or ".symtab" not in elf_sections(dbg):
            fail(f"no symbols under the build id: {dbg}")
        with open(text) as f:
            if f.read() != "not ELF\n":
                fail("tools/strip-elf changed a file that is not ELF")
        print("ok - tools/strip-elf strips, keeps the build id, and files the symbols under it")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    src, binary = os.path.abspath(sys.argv[1]), sys.argv[2]
    image_strips_what_it_installs(src)
    for tool in ("readelf", "strip", "objcopy"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} not on PATH (package binutils)")
            return SKIP
    strip_elf_strips(src, binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
