#!/usr/bin/env python3
"""Helpers of vm-image/build.sh (standard library only).

  initramfs.py modules --moddir DIR --out DIR LIST...
      Copies the modules named in the LIST files, and every module they
      depend on (the `depends=` of each module's .modinfo, what depmod
      reads), from DIR (/lib/modules/<release> of the unpacked kernel
      package) to OUT, and writes their modules.dep and modules.alias
      (depmod's formats) and the kernel's modules.builtin.

  initramfs.py libs --stage DIR --search DIR... [--search ...]
      Copies into the staging tree every shared library (and the ELF
      interpreter) the ELF files of the tree need, found in the --search
      roots (unpacked Debian packages), transitively. Prints one line per
      library: "<path in image> <search root it came from>".

  initramfs.py cpio --stage DIR --epoch N --out FILE [--node PATH:c:MAJ:MIN:MODE ...]
      Writes a newc cpio archive of the tree: entries sorted by path, owner
      0:0, mtime N, inode numbers in order, no hard links; extra device
      nodes from --node. Same tree + same N = same bytes.

  initramfs.py tar --stage DIR --epoch N --out FILE [--require PATH ...] [--forbid PATH ...]
      Writes a tar (GNU format) of the tree for `wsl --import`: entries
      sorted by path, owner root:root (0:0), mtime N. Then reads it back
      and checks that every --require path is in it and no --forbid path
      is; prints the entry count, size and the checked paths.
"""

import argparse
import os
import shutil
import stat
import struct
import sys
import tarfile


# ---------------------------------------------------------------- modules

def module_name(path):
    base = os.path.basename(path)
    for ext in (".ko.zst", ".ko.xz", ".ko.gz", ".ko"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return base.replace("-", "_")


def read_list(path):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line.replace("-", "_"))
    return names


def modinfo(path):
    """The key=value strings of a module's .modinfo section, as (key, value) pairs."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"initramfs.py: {path}: not an ELF64 little-endian module")
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i):
        sh_name, _t, _f, _a, sh_offset, sh_size = struct.unpack_from("<IIQQQQ", data, e_shoff + i * e_shentsize)
        return sh_name, sh_offset, sh_size

    _, str_off, _ = section(e_shstrndx)
    for i in range(e_shnum):
        name_off, off, size = section(i)
        end = data.index(b"\0", str_off + name_off)
        if data[str_off + name_off : end] == b".modinfo":
            pairs = []
            for item in data[off : off + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.decode(errors="replace").split("=", 1)
                    pairs.append((k, v))
            return pairs
    return []


def modinfo_depends(pairs):
    """The dependencies (module names) in a module's .modinfo pairs."""
    for k, v in pairs:
        if k == "depends":
            return [d.replace("-", "_") for d in v.split(",") if d]
    return []


def cmd_modules(args):
    """Copies the wanted modules and their dependencies (from each module's
    .modinfo `depends=`, as depmod reads them) and writes their modules.dep."""
    paths = {}
    for dirpath, dirs, files in os.walk(os.path.join(args.moddir, "kernel")):
        dirs.sort()
        for name in sorted(files):
            if ".ko" in name:
                rel = os.path.relpath(os.path.join(dirpath, name), args.moddir)
                paths[module_name(rel)] = rel
    builtin = set()
    builtin_path = os.path.join(args.moddir, "modules.builtin")
    if os.path.exists(builtin_path):
        with open(builtin_path) as f:
            builtin = {module_name(line.strip()) for line in f if line.strip()}
    wanted = []
    for lst in args.lists:
        wanted.extend(read_list(lst))
    direct = {}
    aliases = []
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name in direct:
            continue
        if name not in paths:
            why = "built into the kernel: remove it from the list" if name in builtin else "no such module"
            sys.exit(f"initramfs.py: module {name}: {why}")
        info = modinfo(os.path.join(args.moddir, paths[name]))
        direct[name] = modinfo_depends(info)
        aliases.extend((v, name) for k, v in info if k == "alias")
        stack.extend(direct[name])

    def load_order(name, seen, order):
        # Post-order: every dependency before the module needing it.
        for dep in direct[name]:
            if dep not in seen:
                seen.add(dep)
                load_order(dep, seen, order)
                order.append(dep)

    total = 0
    lines = []
    for name in sorted(direct, key=lambda n: paths[n]):
        rel = paths[name]
        dst = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(args.moddir, rel), dst)
        total += os.path.getsize(dst)
        order = []
        load_order(name, set(), order)
        # depmod lists dependencies in reverse load order.
        deps = " ".join(paths[d] for d in reversed(order))
        lines.append(f"{rel}:{' ' if deps else ''}{deps}\n")
    with open(os.path.join(args.out, "modules.dep"), "w") as out:
        out.writelines(lines)
    # What `modprobe <alias>` (the kernel's request_module) resolves.
    with open(os.path.join(args.out, "modules.alias"), "w") as out:
        out.write("# Aliases extracted from modules themselves.\n")
        for alias, name in sorted(set(aliases)):
            out.write(f"alias {alias} {name}\n")
    if os.path.exists(builtin_path):
        shutil.copyfile(builtin_path, os.path.join(args.out, "modules.builtin"))
    print(f"{len(direct)} modules, {total} bytes")


# ------------------------------------------------------------------- libs

def elf_info(path):
    """(interpreter or None, [DT_NEEDED sonames]) of an ELF64 little-endian file, or None."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    e_phoff, = struct.unpack_from("<Q", data, 0x20)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    interp = None
    dynamic = None
    loads = []
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, off)
        if p_type == 3:  # PT_INTERP
            interp = data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode()
        elif p_type == 2:  # PT_DYNAMIC
            dynamic = (p_offset, p_filesz)
        elif p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
    needed = []
    if dynamic:
        strtab = None
        offsets = []
        off, size = dynamic
        for j in range(0, size, 16):
            tag, val = struct.unpack_from("<qQ", data, off + j)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                offsets.append(val)
            elif tag == 5:  # DT_STRTAB (a virtual address)
                strtab = val
        if strtab is not None:
            file_off = None
            for vaddr, poff, fsz in loads:
                if vaddr <= strtab < vaddr + fsz:
                    file_off = strtab - vaddr + poff
            for o in offsets:
                start = file_off + o
                end = data.index(b"\0", start)
                needed.append(data[start:end].decode())
    return interp, needed


LIB_DIRS = ["lib/{t}", "usr/lib/{t}", "lib", "usr/lib", "lib64", "usr/lib64"]


def resolve_in_root(root, rel):
    """The real file `rel` names inside the unpacked package `root` (symlinks,
    absolute ones included, resolved inside the root)."""
    path = os.path.join(root, rel)
    for _ in range(40):
        if not os.path.islink(path):
            return path
        target = os.readlink(path)
        if target.startswith("/"):
            path = os.path.join(root, target.lstrip("/"))
        else:
            path = os.path.normpath(os.path.join(os.path.dirname(path), target))
    sys.exit(f"initramfs.py: symlink loop at {rel} in {root}")


def find_lib(roots, want, triplet):
    """(root, real file) of a soname or an absolute interpreter path."""
    if want.startswith("/"):
        cands = [want.lstrip("/")]
        if not want.startswith("/usr/"):
            cands.append("usr" + want)
    else:
        cands = [os.path.join(d.format(t=triplet), want) for d in LIB_DIRS]
    for root in roots:
        for c in cands:
            if os.path.lexists(os.path.join(root, c)):
                real = resolve_in_root(root, c)
                if os.path.isfile(real):
                    return root, real
    return None


def cmd_libs(args):
    triplet = args.triplet
    stage = args.stage
    libdir = os.path.join("usr/lib", triplet)
    queue = []
    for dirpath, dirs, files in os.walk(stage):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(dirpath, name)
            if not os.path.islink(p) and os.path.isfile(p) and not p.endswith(".ko"):
                queue.append(p)
    done = set()
    report = []
    while queue:
        info = elf_info(queue.pop(0))
        if info is None:
            continue
        interp, needed = info
        for want in needed + ([interp] if interp else []):
            if want in done:
                continue
            done.add(want)
            found = find_lib(args.search, want, triplet)
            if not found:
                sys.exit(f"initramfs.py: {want} is in none of the unpacked packages")
            root, real = found
            # Every library lands in usr/lib/<triplet>/ under its soname
            # (the interpreter under its own name); /lib and /lib64 are
            # symlinks into usr/ in the image.
            image_rel = os.path.join(libdir, os.path.basename(want))
            dst = os.path.join(stage, image_rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(real, dst)
            os.chmod(dst, 0o755)
            queue.append(dst)
            if want.startswith("/"):
                link_rel = want.lstrip("/") if want.startswith("/usr/") else "usr" + want
                if link_rel != image_rel:
                    link = os.path.join(stage, link_rel)
                    os.makedirs(os.path.dirname(link), exist_ok=True)
                    if os.path.lexists(link):
                        os.unlink(link)
                    os.symlink(os.path.relpath(dst, os.path.dirname(link)), link)
            report.append(f"/{image_rel} {os.path.relpath(real, root)} {root}")
    for line in sorted(report):
        print(line)


# ------------------------------------------------------------------- cpio

def newc_header(ino, mode, nlink, size, mtime, rdev_major, rdev_minor, name_len):
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev_major, rdev_minor, name_len, 0]
    return b"070701" + b"".join(b"%08X" % v for v in fields)


def pad4(n):
    return (4 - n % 4) % 4


def cmd_cpio(args):
    entries = []  # (path in archive, kind, payload)
    for dirpath, dirs, files in os.walk(args.stage):
        dirs.sort()
        for name in dirs + sorted(files):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, args.stage)
            entries.append((rel, full))
    nodes = {}
    for spec in args.node or []:
        path, kind, major, minor, mode = spec.split(":")
        if kind != "c":
            sys.exit(f"initramfs.py: only character nodes are supported: {spec}")
        nodes[path.lstrip("/")] = (int(major), int(minor), int(mode, 8))
    names = sorted(set([e[0] for e in entries]) | set(nodes))
    by_name = dict(entries)
    out = bytearray()
    ino = 1
    for rel in names:
        name = rel.encode() + b"\0"
        if rel in nodes:
            major, minor, perm = nodes[rel]
            mode, data, nlink, rmaj, rmin = stat.S_IFCHR | perm, b"", 1, major, minor
        else:
            full = by_name[rel]
            st = os.lstat(full)
            perm = stat.S_IMODE(st.st_mode)
            rmaj = rmin = 0
            if stat.S_ISLNK(st.st_mode):
                mode, data, nlink = stat.S_IFLNK | 0o777, os.readlink(full).encode(), 1
            elif stat.S_ISDIR(st.st_mode):
                mode, data, nlink = stat.S_IFDIR | perm, b"", 2
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    data = f.read()
                mode, nlink = stat.S_IFREG | perm, 1
            else:
                sys.exit(f"initramfs.py: unsupported file type: {full}")
        out += newc_header(ino, mode, nlink, len(data), args.epoch, rmaj, rmin, len(name))
        out += name + b"\0" * pad4(110 + len(name))
        out += data + b"\0" * pad4(len(data))
        ino += 1
    trailer = b"TRAILER!!!\0"
    out += newc_header(0, 0, 1, 0, 0, 0, 0, len(trailer))
    out += trailer + b"\0" * pad4(110 + len(trailer))
    with open(args.out, "wb") as f:
        f.write(out)
    print(f"{len(names)} entries, {len(out)} bytes")


# -------------------------------------------------------------------- tar

def cmd_tar(args):
    paths = []
    for dirpath, dirs, files in os.walk(args.stage):
        dirs.sort()
        for name in dirs + sorted(files):
            paths.append(os.path.relpath(os.path.join(dirpath, name), args.stage))
    paths.sort()
    with tarfile.open(args.out, "w", format=tarfile.GNU_FORMAT) as tar:
        for rel in paths:
            full = os.path.join(args.stage, rel)
            st = os.lstat(full)
            info = tarfile.TarInfo(rel)
            info.mtime = args.epoch
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
                tar.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                sys.exit(f"initramfs.py: unsupported file type: {full}")
    # Self-check: read the archive back.
    with tarfile.open(args.out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    missing = [p for p in args.require or [] if p not in members]
    present = [p for p in args.forbid or [] if p in members]
    if missing or present:
        sys.exit(f"initramfs.py: {args.out}: missing {missing}, must not contain {present}")
    if any(m.uid or m.gid or m.mtime != args.epoch for m in members.values()):
        sys.exit(f"initramfs.py: {args.out}: an entry is not root-owned at mtime {args.epoch}")
    checked = " ".join(args.require or [])
    print(f"{len(members)} entries, {os.path.getsize(args.out)} bytes; has {checked}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("modules")
    m.add_argument("--moddir", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("lists", nargs="+")
    lb = sub.add_parser("libs")
    lb.add_argument("--stage", required=True)
    lb.add_argument("--triplet", required=True)
    lb.add_argument("--search", action="append", required=True)
    c = sub.add_parser("cpio")
    c.add_argument("--stage", required=True)
    c.add_argument("--epoch", type=int, required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--node", action="append")
    t = sub.add_parser("tar")
    t.add_argument("--stage", required=True)
    t.add_argument("--epoch", type=int, required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--require", action="append")
    t.add_argument("--forbid", action="append")
    args = ap.parse_args()
    {"modules": cmd_modules, "libs": cmd_libs, "cpio": cmd_cpio, "tar": cmd_tar}[args.cmd](args)


if __name__ == "__main__":
    main()
