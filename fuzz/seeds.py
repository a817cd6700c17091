#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/ (the fuzzer's own finds are
added by `cargo fuzz cmin`). Structured targets take `arbitrary` input: the
4 bytes ff ff ff ff pick an enum's last variant (`Raw`), whose bytes follow."""
import hashlib, io, json, os, re, struct, tarfile

here = os.path.dirname(os.path.abspath(__file__))
RAW = b"\xff\xff\xff\xff"


def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def tar(members):
    """members: (name, kind, data-or-linkname, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data, mode in members:
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.mtime = 1700000000
            if kind == "file":
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "link": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("sym", "link"):
                info.linkname = data
            t.addfile(info)
    return buf.getvalue()


for i, s in enumerate([
    "busybox", "busybox:latest", "docker.io/library/busybox:1.36",
    "localhost:5000/a/b:tag", "ghcr.io/org/img@sha256:" + "a" * 64,
    "registry.example.com:443/x/y/z:v1@sha256:" + "0" * 64, "UPPER/case",
    "a" * 64, "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64",
    "sha256:" + "f" * 64, "sha512:abc", "[::1]:5000/img", "x:-bad",
]):
    put("reference", f"seed-{i:02}", s)

layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "digest": "sha256:" + "1" * 64, "size": 10}
docs = [
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "2" * 64, "size": 5}, "layers": [layer],
     "annotations": {"a": "b"}},
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
     "manifests": [dict(layer, mediaType="application/vnd.oci.image.manifest.v1+json",
                        platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
                   dict(layer, mediaType="application/vnd.oci.image.manifest.v1+json",
                        platform={"os": "unknown", "architecture": "unknown"},
                        annotations={"vnd.docker.reference.type": "attestation-manifest"})]},
    {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "3" * 64]},
     "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "x", "empty_layer": True}]},
]
for i, d in enumerate(docs):
    put("documents", f"seed-{i}", json.dumps(d))

for i, d in enumerate([
    {}, {"hosts": ["unix:///run/x.sock", "tcp://127.0.0.1:2375"], "debug": True},
    {"data-root": "/var/lib/x", "registry-mirrors": ["https://m"], "insecure-registries": ["10.0.0.0/8"],
     "log-level": "warn", "init": True, "init-path": "/bin/tini", "default-cgroupns-mode": "host", "group": "docker"},
    {"default-cgroupns-mode": "bogus"}, {"hosts": ["fd://"]}, {"unknown-key": 1},
]):
    put("daemon_json", f"seed-{i}", json.dumps(d))

put("unpack", "seed-layer", RAW + tar([
    ("etc", "dir", b"", 0o755), ("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\n", 0o644),
    ("bin", "dir", b"", 0o755), ("bin/sh", "file", b"\x7fELF", 0o4755),
    ("bin/ash", "link", "bin/sh", 0o755), ("lib", "sym", "/usr/lib", 0o777),
    ("etc/.wh.old", "file", b"", 0o644), ("var/.wh..wh..opq", "file", b"", 0o644),
    ("tmp/fifo", "fifo", b"", 0o644)]))
put("unpack", "seed-escapes", RAW + tar([
    ("../escape", "file", b"x", 0o644), ("/abs", "file", b"x", 0o644),
    ("s", "sym", "/", 0o777), ("s/etc/x", "file", b"x", 0o644),
    ("h", "link", "../../etc/passwd", 0o644), ("d/.wh..", "file", b"", 0o644)]))

# docker-archive and OCI-archive: one layer with one file.
layer_tar = tar([("hello", "file", b"hi\n", 0o644)])
diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
                     "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
chex = hashlib.sha256(config).hexdigest()
lhex = hashlib.sha256(layer_tar).hexdigest()
put("image_load", "seed-docker-archive", RAW + tar([
    (f"{chex}.json", "file", config, 0o644), (f"{lhex}/layer.tar", "file", layer_tar, 0o644),
    ("manifest.json", "file", json.dumps([{"Config": f"{chex}.json", "RepoTags": ["fuzz:latest"],
                                           "Layers": [f"{lhex}/layer.tar"]}]).encode(), 0o644)]))
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + chex, "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": "sha256:" + lhex, "size": len(layer_tar)}]}).encode()
mhex = hashlib.sha256(manifest).hexdigest()
put("image_load", "seed-oci-archive", RAW + tar([
    ("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}', 0o644),
    (f"blobs/sha256/{chex}", "file", config, 0o644), (f"blobs/sha256/{lhex}", "file", layer_tar, 0o644),
    (f"blobs/sha256/{mhex}", "file", manifest, 0o644),
    ("index.json", "file", json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + mhex,
         "size": len(manifest), "annotations": {"io.containerd.image.name": "docker.io/library/fuzz:oci"}}]}).encode(),
     0o644)]))

# relay_session: byte 0 = host connections (low 2 bits) | (chunk size - 1) << 2,
# then yamux frames from the guest: version 0, type (0 data, 1 window
# update, 2 ping, 3 go away), flags (1 SYN, 2 ACK, 4 FIN, 8 RST), stream id,
# length — the host is the client: it opens the odd stream ids.


def frame(kind, flags, sid, length, body=b""):
    return struct.pack(">BBHII", 0, kind, flags, sid, length) + body


reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
for name, head, frames in [
    ("ping", 0x01, frame(2, 1, 0, 42)),
    ("reply", (63 << 2) | 1, frame(1, 2, 1, 0) + frame(0, 0, 1, len(reply), reply) + frame(0, 4, 1, 0)),
    ("two-streams", (5 << 2) | 2, frame(1, 2, 1, 0) + frame(1, 2, 3, 0) + frame(0, 4, 3, 2, b"OK")
     + frame(0, 0, 1, 3, b"abc") + frame(1, 8, 1, 0)),
    ("guest-opens", 0x00, frame(1, 1, 2, 0) + frame(0, 0, 2, 4, b"data")),
    ("go-away", (7 << 2) | 1, frame(1, 2, 1, 0) + frame(3, 0, 0, 0)),
    ("huge-length", 0x01, frame(1, 2, 1, 0) + frame(0, 0, 1, 0xFFFFFFFF, b"x" * 16)),
    ("huge-window", 0x01, frame(1, 2, 1, 0xFFFFFFFF) + frame(1, 0, 1, 0xFFFFFFFF)),
    ("bad-version", 0x01, b"\x01" + frame(0, 0, 1, 0)[1:]),
]:
    put("relay_session", f"seed-{name}", bytes([head]) + frames)

# relay_ports: byte 0 = stream (0 publication lines, 1 datagrams, 2 request
# line), byte 1 = chunk size, then the stream.
put("relay_ports", "seed-lines", b"\x00\x10" + b"publish tcp - 80\npublish tcp 0.0.0.0 8080\n"
    b"publish udp :: 53\nunpublish tcp - 80\npublish tcp 127.0.0.1 65535\nbogus line\n")
put("relay_ports", "seed-long-line", b"\x00\x40" + b"publish tcp - " + b"9" * 400 + b"\n")
put("relay_ports", "seed-datagrams", b"\x01\x03" + struct.pack(">H", 5) + b"hello"
    + struct.pack(">H", 0) + struct.pack(">H", 0xFFFF) + b"cut")
put("relay_ports", "seed-request", b"\x02\x01" + b"SKIFF-PORT/1 tcp 127.0.0.1 80")
put("relay_ports", "seed-request-v6", b"\x02\x01" + b"SKIFF-PORT/1 udp ::1 53")

# Dockerfiles: the ones the build tests use (raw and plain string literals
# holding a FROM line), plus the forms the parser maps by hand.
root = os.path.dirname(here)
dockerfiles = []
for path in ["tests/tests/build.rs", "tests/tests/build_realworld.rs",
             "engine/src/build/parse.rs", "engine/src/build/dispatch.rs",
             "engine/src/build/metadata.rs", "engine/src/build/vars.rs"]:
    src = open(os.path.join(root, path)).read()
    found = re.findall(r'r#"(.*?)"#', src, re.S)
    found += [bytes(s, "utf-8").decode("unicode_escape")
              for s in re.findall(r'"((?:[^"\\\n]|\\.)*FROM (?:[^"\\\n]|\\.)*)"', src)]
    dockerfiles += [d for d in found if re.search(r"^FROM ", d, re.M)]
dockerfiles += [
    "# escape=`\nFROM busybox\nRUN echo a `\n  b\nENV A=1 B=\"x y\" C=${A:-d} D=${B:+alt}\n",
    "FROM busybox\nRUN <<EOF\necho hi\nEOF\nCOPY <<-'EOT' /f\n\t$A\nEOT\nRUN <<EOF bash\nset -e\nEOF\n",
    "ARG B=busybox\nFROM ${B} AS one\nFROM one\nONBUILD RUN x\nHEALTHCHECK --interval=1m30s CMD true\n"
    "HEALTHCHECK NONE\nSTOPSIGNAL SIGKILL\nSHELL [\"/bin/bash\", \"-c\"]\nMAINTAINER me\n"
    "EXPOSE 80-82/udp\nVOLUME /a /b\nUSER 1:1\nADD --chmod=0755 a* /x/\n",
]
seen = set()
for d in dockerfiles:
    if d in seen:
        continue
    seen.add(d)
    put("dockerfile", f"seed-{len(seen) - 1:02}", d)

# Build contexts (raw request bodies): the realistic test contexts.
node_ignore = b"node_modules\n*.log\ndocs/\n!docs/keep.md\n.env*\nDockerfile\n.dockerignore\n"
contexts = [
    [("Dockerfile", "file", dockerfiles[0].encode(), 0o644), ("go.mod", "file", b"module x\n", 0o644),
     ("cmd", "dir", b"", 0o755), ("cmd/svc/main.go", "file", b"package main\n", 0o644)],
    [("Dockerfile", "file", b"FROM busybox\nCOPY . .\n", 0o644), (".dockerignore", "file", node_ignore, 0o644),
     ("src/index.js", "file", b"x\n", 0o644), ("docs/keep.md", "file", b"k\n", 0o644),
     ("docs/guide.md", "file", b"g\n", 0o644), ("node_modules/a/index.js", "file", b"i\n", 0o644),
     ("debug.log", "file", b"l\n", 0o644)],
    [("real.Dockerfile", "file", b"FROM busybox\n", 0o644), ("Dockerfile", "sym", "real.Dockerfile", 0o777),
     ("link", "sym", "/etc", 0o777), ("up", "sym", "../..", 0o777), ("a", "link", "real.Dockerfile", 0o644)],
]
for i, members in enumerate(contexts):
    put("build_context", f"seed-{i}", RAW + tar(members))
