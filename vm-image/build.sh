#!/usr/bin/env bash
# Builds the Skiff VM image: Debian's cloud kernel, a small initramfs
# (skiff-init as /init, its libraries, /etc, the virtio boot modules) and
# system.img, the read-only /usr the guest mounts from a second disk
# (skiffd, skiff-shim, their libraries, busybox, mke2fs, nft, every kernel
# module the guest needs). See vm-image/README.md.
#
#   vm-image/build.sh [--arch amd64|arm64] [--out DIR] [--update-lock] [--no-cargo] [--wsl-rootfs]
#
# Writes DIR/{vmlinuz,initramfs.img,system.img,manifest.json} (default DIR:
# target/vm-image/<arch>); --wsl-rootfs also writes DIR/rootfs.tar, the
# same userland for `wsl --import` (skiff-init at /usr/bin/skiff-init, run
# as `skiff-init --wsl`; no kernel, no modules, /etc/wsl.conf). Debian
# packages come from apt at the exact versions (and .deb sha256) of
# vm-image/packages.<arch>.lock;
# --update-lock re-resolves them to apt's current candidates first;
# --no-cargo packs the release binaries already built instead of building.
# Same inputs (sources, lock, SOURCE_DATE_EPOCH) -> byte-identical outputs.
#
# Environment: SOURCE_DATE_EPOCH (default: the last commit's time),
# CARGO_TARGET_DIR (default: target/ of the checkout), SKIFF_VM_CACHE
# (downloaded and unpacked .debs; default target/vm-image/cache).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
arch=amd64
out=""
update_lock=0
no_cargo=0
wsl_rootfs=0
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch=$2; shift 2 ;;
        --arch=*) arch=${1#*=}; shift ;;
        --out) out=$2; shift 2 ;;
        --out=*) out=${1#*=}; shift ;;
        --update-lock) update_lock=1; shift ;;
        --no-cargo) no_cargo=1; shift ;;
        --wsl-rootfs) wsl_rootfs=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

case "$arch" in
    amd64) triplet=x86_64-linux-gnu; rust_target=x86_64-unknown-linux-gnu ;;
    arm64) triplet=aarch64-linux-gnu; rust_target=aarch64-unknown-linux-gnu ;;
    *) echo "build.sh: unsupported --arch $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
host_arch=$(dpkg --print-architecture)
strip_tool=strip
if [ "$arch" != "$host_arch" ]; then
    strip_tool=$triplet-strip
fi
out=${out:-$root/target/vm-image/$arch}
lock=$here/packages.$arch.lock
cache=${SKIFF_VM_CACHE:-$root/target/vm-image/cache}/$arch
target_dir=${CARGO_TARGET_DIR:-$root/target}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
export LC_ALL=C TZ=UTC
py() { python3 "$here/tools/initramfs.py" "$@"; }
say() { echo "build.sh: $*" >&2; }

for tool in dpkg-deb apt-get python3 zstd "$strip_tool" sha256sum cargo mke2fs debugfs e2fsck; do
    command -v "$tool" >/dev/null || { say "missing $tool (scripts/install-deps.sh installs it)"; exit 1; }
done

# ---- 1. the binaries (release; shares the workspace's target directory)
cargo_target=()
bindir=$target_dir/release
if [ "$arch" != "$host_arch" ]; then
    cargo_target=(--target "$rust_target")
    bindir=$target_dir/$rust_target/release
fi
if [ "$no_cargo" = 0 ]; then
    say "cargo build --release (skiffd, skiff-shim, skiff-init) for $rust_target"
    # A test that runs this script (under `cargo test`) hands down its own
    # CARGO_MANIFEST_DIR, CARGO_PKG_*, …; build scripts that watch them
    # (ring's watches CARGO_MANIFEST_DIR) would then rebuild the whole
    # release graph each time. Build with a plain shell's environment.
    while read -r var; do
        unset "$var"
    done < <(compgen -e | grep -E '^(CARGO_(MANIFEST_|PKG_|CRATE_|BIN_|PRIMARY_PACKAGE|TARGET_TMPDIR)|OUT_DIR$)' || true)
    (cd "$root" && cargo build --release -q "${cargo_target[@]}" -p skiffd -p skiff-shim -p skiff-init)
fi
for bin in skiffd skiff-shim skiff-init; do
    [ -x "$bindir/$bin" ] || { say "no $bindir/$bin (build it, or drop --no-cargo)"; exit 1; }
done
# Nothing to do when every input is the one the artefacts were built from.
inputs_of() {
    { cat "$bindir/skiffd" "$bindir/skiff-shim" "$bindir/skiff-init" "$here/modules.boot" "$here/modules.background" "$here/modules.ondemand" \
        "$here/build.sh" "$here/tools/initramfs.py"; [ "$update_lock" = 1 ] || cat "$lock" 2>/dev/null; echo "$arch $SOURCE_DATE_EPOCH wsl=$1"; } | sha256sum | cut -d' ' -f1
}
inputs=$(inputs_of "$wsl_rootfs")
# A build with the WSL rootfs also satisfies one without.
also=$inputs
[ "$wsl_rootfs" = 1 ] || also=$(inputs_of 1)
if [ "$update_lock" = 0 ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.img" ] && [ -f "$out/system.img" ] && [ -f "$out/manifest.json" ] \
    && { [ "$wsl_rootfs" = 0 ] || [ -f "$out/rootfs.tar" ]; } \
    && grep -qE "\"inputs_sha256\": \"($inputs|$also)\"" "$out/manifest.json"; then
    say "$out is up to date"
    exit 0
fi

# ---- 2. the Debian packages
apt_name() { if [ "$arch" = "$host_arch" ]; then echo "$1"; else echo "$1:$arch"; fi; }
# The file apt-get download writes for PKG VERSION (an epoch's ':' is %3a).
deb_path() {
    local f
    for f in "$cache/debs/${1}_${2//:/%3a}_$arch.deb" "$cache/debs/${1}_${2//:/%3a}_all.deb"; do
        if [ -f "$f" ]; then echo "$f"; return 0; fi
    done
    return 1
}
download() {
    (cd "$cache/debs" && apt-get download -q "$(apt_name "$1")=$2" >/dev/null 2>&1) && deb_path "$1" "$2"
}

if [ "$update_lock" = 1 ]; then
    say "resolving packages for $arch"
    kernel_pkg=$(apt-cache depends "$(apt_name "linux-image-cloud-$arch")" | sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -1)
    [ -n "$kernel_pkg" ] || { say "no kernel package behind linux-image-cloud-$arch"; exit 1; }
    # The libraries the binaries need, by soname, and the packages that
    # ship them (dpkg -S on this machine: the names are the same on every
    # architecture). mke2fs is e2fsprogs'.
    sonames=$(for f in "$bindir/skiffd" "$bindir/skiff-shim" "$bindir/skiff-init" /sbin/mke2fs /usr/sbin/nft; do
        readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)
    # e2fsprogs: mke2fs; tini: tini-static is `docker run --init`'s docker-init;
    # busybox-static: the shell of `skiff machine shell` and its tools;
    # nftables: `nft`, which skiffd's networking drives (its own table).
    pkgs="e2fsprogs tini busybox-static nftables"
    seen=""
    ldcache=$(ldconfig -p)
    while [ -n "$sonames" ]; do
        next=""
        for so in $sonames; do
            case " $seen " in *" $so "*) continue ;; esac
            seen="$seen $so"
            path=$(echo "$ldcache" | awk -v so="$so" '$1 == so && /x86-64|AArch64/ {print $NF}' | head -1)
            [ -n "$path" ] || path=$(ls /lib/"$(dpkg-architecture -qDEB_HOST_MULTIARCH)"/"$so" 2>/dev/null || true)
            [ -n "$path" ] || { say "cannot find $so on this machine"; exit 1; }
            real=$(readlink -f "$path")
            pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null) \
                || { say "no package owns $path"; exit 1; }
            pkg=${pkg%%:*}
            pkgs="$pkgs $pkg"
            next="$next $(readelf -d "$real" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
        done
        sonames=$next
    done
    mkdir -p "$cache/debs"
    {
        echo "# The Debian packages of the $arch VM image: name version sha256(.deb)."
        echo "# Written by vm-image/build.sh --update-lock; the build downloads exactly these."
        for pkg in "$kernel_pkg" $(echo "$pkgs" | tr ' ' '\n' | sed '/^$/d' | sort -u); do
            version=$(apt-cache policy "$(apt_name "$pkg")" | sed -n 's/^ *Candidate: //p')
            [ -n "$version" ] && [ "$version" != "(none)" ] || { say "no candidate for $pkg"; exit 1; }
            deb=$(deb_path "$pkg" "$version" || download "$pkg" "$version") \
                || { say "apt-get download $pkg=$version failed"; exit 1; }
            echo "$pkg $version $(sha256sum "$deb" | cut -d' ' -f1)"
        done
    } >"$lock.new"
    mv "$lock.new" "$lock"
    say "wrote $lock"
fi

[ -f "$lock" ] || { say "no $lock: run vm-image/build.sh --arch $arch --update-lock"; exit 1; }
mkdir -p "$cache/debs" "$cache/unpacked"
unpacked=()
packages_json=""
kernel_pkg=""
while read -r pkg version sha; do
    case "$pkg" in ''|'#'*) continue ;; esac
    file_version=${version//:/%3a}
    deb=$(deb_path "$pkg" "$version" || true)
    if [ -z "$deb" ] || [ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$sha" ]; then
        say "downloading $pkg $version"
        [ -z "$deb" ] || rm -f "$deb"
        deb=$(download "$pkg" "$version") || {
            say "apt-get download $pkg=$version failed: is it still in the archive? (vm-image/build.sh --update-lock moves to the current version)"
            exit 1
        }
    fi
    got=$(sha256sum "$deb" | cut -d' ' -f1)
    [ "$got" = "$sha" ] || { say "$deb: sha256 $got, the lock says $sha"; exit 1; }
    dir=$cache/unpacked/${pkg}_${file_version}
    if [ ! -f "$dir/.done" ]; then
        rm -rf "$dir"
        dpkg-deb -x "$deb" "$dir"
        touch "$dir/.done"
    fi
    unpacked+=("$dir")
    case "$pkg" in linux-image-*) kernel_pkg=$pkg; kernel_dir=$dir ;; esac
    packages_json="$packages_json{\"name\":\"$pkg\",\"version\":\"$version\"},"
done <"$lock"
[ -n "$kernel_pkg" ] || { say "$lock names no linux-image package"; exit 1; }
kernel_version=$(ls "$kernel_dir/lib/modules" | head -1)
say "kernel $kernel_version"

# ---- 3. the initramfs tree
stage=$out/.stage
rm -rf "$stage"
mkdir -p "$out" "$stage"
umask 022
for d in dev proc sys run tmp root var/lib/skiff etc/skiff usr/bin usr/sbin usr/lib/"$triplet" mnt; do
    mkdir -p "$stage/$d"
done
chmod 1777 "$stage/tmp"
chmod 0700 "$stage/root"
# Merged /usr, as Debian.
ln -s usr/bin "$stage/bin"
ln -s usr/sbin "$stage/sbin"
ln -s usr/lib "$stage/lib"
if [ "$arch" = amd64 ]; then
    mkdir -p "$stage/usr/lib64"
    ln -s usr/lib64 "$stage/lib64"
fi
install_bin() { "$strip_tool" --strip-all -o "$2" "$1"; chmod 0755 "$2"; }
install_bin "$bindir/skiff-init" "$stage/init"
install_bin "$bindir/skiffd" "$stage/usr/bin/skiffd"
install_bin "$bindir/skiff-shim" "$stage/usr/bin/skiff-shim"
e2fs_dir=$(printf '%s\n' "${unpacked[@]}" | grep '/e2fsprogs_' | head -1)
install -m 0755 "$e2fs_dir/sbin/mke2fs" "$stage/usr/sbin/mke2fs"
install -m 0644 "$e2fs_dir/etc/mke2fs.conf" "$stage/etc/mke2fs.conf"
tini_dir=$(printf '%s\n' "${unpacked[@]}" | grep '/tini_' | head -1)
[ -n "$tini_dir" ] || { say "$lock names no tini package: run --update-lock"; exit 1; }
install -m 0755 "$tini_dir/usr/bin/tini-static" "$stage/usr/bin/docker-init"
busybox_dir=$(printf '%s\n' "${unpacked[@]}" | grep '/busybox-static_' | head -1)
[ -n "$busybox_dir" ] || { say "$lock names no busybox-static package: run --update-lock"; exit 1; }
install -m 0755 "$busybox_dir/bin/busybox" "$stage/usr/bin/busybox"
# skiffd's networking writes its nftables table with `nft -j`.
nft_dir=$(printf '%s\n' "${unpacked[@]}" | grep '/nftables_' | head -1)
[ -n "$nft_dir" ] || { say "$lock names no nftables package: run --update-lock"; exit 1; }
install -m 0755 "$nft_dir/usr/sbin/nft" "$stage/usr/sbin/nft"
ln -s busybox "$stage/usr/bin/sh"
# Its applets, where the image has nothing of that name. A cross build
# cannot run the target's busybox to ask: it asks this machine's
# busybox-static (Debian configures it the same on every architecture).
# Module tools stay skiff-init's.
applets_of=$stage/usr/bin/busybox
[ "$arch" = "$host_arch" ] || applets_of=/bin/busybox
for applet in $("$applets_of" --list); do
    case "$applet" in init|linuxrc|modprobe|depmod|insmod|rmmod) continue ;; esac
    [ -e "$stage/usr/bin/$applet" ] || [ -e "$stage/usr/sbin/$applet" ] || ln -s busybox "$stage/usr/bin/$applet"
done
say "$(py libs --stage "$stage" --triplet "$triplet" $(printf -- '--search %s ' "${unpacked[@]}") | wc -l) shared libraries"
say "modules: $(py modules --moddir "$kernel_dir/lib/modules/$kernel_version" --out "$stage/usr/lib/modules/$kernel_version" \
    "$here/modules.boot" "$here/modules.background" "$here/modules.ondemand")"
install -m 0644 "$here/modules.boot" "$stage/etc/skiff/modules.boot"
install -m 0644 "$here/modules.background" "$stage/etc/skiff/modules.background"
# The kernel's request_module runs /sbin/modprobe: skiff-init answers as modprobe.
ln -s ../../init "$stage/usr/sbin/modprobe"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\ntty:x:5:\n' >"$stage/etc/group"
printf 'skiff\n' >"$stage/etc/hostname"
# host.docker.internal: the host as QEMU's user networking shows it (for
# --network host containers; skiffd names it in other containers' files).
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tskiff\n10.0.2.2\thost.docker.internal gateway.docker.internal\n' >"$stage/etc/hosts"
# QEMU user networking's DNS (unreachable with restrict=on, harmless then).
printf 'nameserver 10.0.2.3\n' >"$stage/etc/resolv.conf"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
printf 'NAME="Skiff VM"\nID=skiff\nVERSION_ID=%s\nPRETTY_NAME="Skiff VM %s (%s)"\n' "$version" "$version" "$kernel_version" >"$stage/etc/os-release"

# ---- 4. the split: the initramfs keeps only what mounting the system
# disk takes (/init, its libraries, /etc, the modules of modules.boot); the
# whole /usr goes into system.img, a read-only ext4 filesystem (label
# skiff-system) the host attaches as a second virtio disk and skiff-init
# mounts at /usr. The kernel then unpacks ~2 MiB instead of ~37 MiB.
boot=$out/.boot
rm -rf "$boot"
cp -a "$stage" "$boot"
rm -rf "$boot/usr"
mkdir -p "$boot/usr/bin" "$boot/usr/sbin" "$boot/usr/lib/$triplet"
[ "$arch" != amd64 ] || mkdir -p "$boot/usr/lib64"
ln -s ../../init "$boot/usr/sbin/modprobe"
say "initramfs: $(py libs --stage "$boot" --triplet "$triplet" $(printf -- '--search %s ' "${unpacked[@]}") | wc -l) shared libraries, modules: $(py modules --moddir "$kernel_dir/lib/modules/$kernel_version" --out "$boot/usr/lib/modules/$kernel_version" "$here/modules.boot")"
# system.img: the stage's /usr, every time and owner fixed (mke2fs -d
# copies them from the files; E2FSPROGS_FAKE_TIME fixes the filesystem's
# own, debugfs the inodes' ctimes, which no file can be given, and atimes,
# which reading the files moves), UUID and
# directory hash seed from the inputs: same inputs, same bytes.
find "$stage/usr" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
usr_kib=$(du -sk --apparent-size "$stage/usr" | cut -f1)
usr_files=$(find "$stage/usr" | wc -l)
fs_uuid=$(echo "$inputs" | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
system_tmp=$out/.system.img
rm -f "$system_tmp"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -t ext4 -b 4096 -m 0 -L skiff-system \
    -O ^has_journal,^resize_inode -N $((usr_files + 64)) -U "$fs_uuid" \
    -E "hash_seed=$fs_uuid,root_owner=0:0,nodiscard" -d "$stage/usr" -F "$system_tmp" $((usr_kib * 11 / 10 / 4 + 2048)) >/dev/null
inodes=$(debugfs -R stats "$system_tmp" 2>/dev/null | awk -F: '/^Inode count/ { print $2 + 0 }')
for ((i = 1; i <= inodes; i++)); do
    printf 'sif <%d> ctime %d\nsif <%d> ctime_extra 0\nsif <%d> atime %d\nsif <%d> atime_extra 0\nsif <%d> uid 0\nsif <%d> gid 0\n' \
        "$i" "$SOURCE_DATE_EPOCH" "$i" "$i" "$SOURCE_DATE_EPOCH" "$i" "$i" "$i"
done >"$out/.debugfs"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -f "$out/.debugfs" "$system_tmp" >/dev/null 2>&1
rm -f "$out/.debugfs"
e2fsck -fn "$system_tmp" >/dev/null 2>&1 || { say "system.img does not check clean (e2fsck -fn)"; exit 1; }
chmod 0644 "$system_tmp"
# A rename: a VM running the previous system.img keeps reading its inode.
mv "$system_tmp" "$out/system.img"

# ---- 5. the artefacts
file_json() { echo "{\"sha256\":\"$(sha256sum "$1" | cut -d' ' -f1)\",\"size\":$(stat -c %s "$1")}"; }
cpio=$out/initramfs.cpio
say "cpio: $(py cpio --stage "$boot" --epoch "$SOURCE_DATE_EPOCH" --out "$cpio" --node /dev/console:c:5:1:0600 --node /dev/null:c:1:3:0666)"
rm -rf "$boot"
zstd -q -f -19 -T1 --no-progress "$cpio" -o "$out/initramfs.img"
cp "$kernel_dir/boot/vmlinuz-$kernel_version" "$out/vmlinuz"
chmod 0644 "$out/vmlinuz" "$out/initramfs.img"
cpio_size=$(stat -c %s "$cpio")
rm -f "$cpio"

# ---- 6. the WSL2 rootfs (--wsl-rootfs): the same userland, minus what
# WSL's own kernel and init provide; see vm-image/README.md.
rm -f "$out/rootfs.tar"
rootfs_json=""
if [ "$wsl_rootfs" = 1 ]; then
    wsl=$out/.wsl-stage
    rm -rf "$wsl"
    cp -a "$stage" "$wsl"
    # WSL puts its own /init at the root; ours is a plain binary there.
    mv "$wsl/init" "$wsl/usr/bin/skiff-init"
    rm -rf "$wsl/usr/lib/modules" "$wsl/usr/sbin/modprobe" "$wsl/etc/skiff"
    # WSL writes these (wsl.conf [network]).
    rm -f "$wsl/etc/resolv.conf" "$wsl/etc/hosts" "$wsl/etc/hostname"
    mkdir -p "$wsl/var/log/skiff"
    cat >"$wsl/etc/wsl.conf" <<'WSLCONF'
# Skiff's WSL2 distribution (vm-image/build.sh --wsl-rootfs). The host runs
# `wsl.exe -d <distro> -u root --exec /usr/bin/skiff-init --wsl` and speaks
# the engine relay on its stdin/stdout; nothing starts at boot.
[boot]
systemd = false

[user]
default = root

[network]
hostname = skiff
generateHosts = true
generateResolvConf = true

[interop]
enabled = false
appendWindowsPath = false

[automount]
mountFsTab = false
WSLCONF
    chmod 0644 "$wsl/etc/wsl.conf"
    say "rootfs.tar: $(py tar --stage "$wsl" --epoch "$SOURCE_DATE_EPOCH" --out "$out/rootfs.tar" \
        --require usr/bin/skiff-init --require usr/bin/skiffd --require usr/bin/skiff-shim \
        --require usr/bin/busybox --require usr/bin/sh --require usr/bin/docker-init \
        --require etc/wsl.conf --require etc/passwd --require bin --require var/lib/skiff \
        --forbid init --forbid usr/lib/modules --forbid etc/resolv.conf)"
    chmod 0644 "$out/rootfs.tar"
    rm -rf "$wsl"
    rootfs_json=", \"rootfs.tar\": $(file_json "$out/rootfs.tar")"
fi
rm -rf "$stage"

python3 - "$out/manifest.json" <<EOF
import json, sys
manifest = {
    "version": "$version",
    "arch": "$arch",
    "kernel_version": "$kernel_version",
    "kernel_package": "$kernel_pkg",
    "files": {"vmlinuz": $(file_json "$out/vmlinuz"), "initramfs.img": $(file_json "$out/initramfs.img"), "system.img": $(file_json "$out/system.img")$rootfs_json},
    "initramfs_uncompressed_size": $cpio_size,
    "inputs_sha256": "$inputs",
    "source_date_epoch": $SOURCE_DATE_EPOCH,
    "packages": sorted([${packages_json%,}], key=lambda p: p["name"]),
}
with open(sys.argv[1], "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
    f.write("\n")
EOF
# The budget is what a download weighs: system.img counted compressed.
system_packed=$(zstd -q -3 -T1 -c "$out/system.img" | wc -c)
total=$(( $(stat -c %s "$out/vmlinuz") + $(stat -c %s "$out/initramfs.img") + system_packed ))
budget=$((40 * 1024 * 1024))
say "vmlinuz $(stat -c %s "$out/vmlinuz") B + initramfs.img $(stat -c %s "$out/initramfs.img") B (cpio $cpio_size B) + system.img $(stat -c %s "$out/system.img") B ($system_packed B zstd) = $total B -> $out"
if [ "$total" -gt "$budget" ]; then
    say "over the 40 MiB budget"
    exit 1
fi
