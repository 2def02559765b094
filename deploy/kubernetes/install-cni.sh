#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the bpf-overlay CNI plugin on the host; the DaemonSet's init container runs it from the image.
# The plugin is Node.js code, and the host need not have Node.js (or libbpf) at all: the package is copied to
# INSTALL_DIR together with the image's node binary, its shared libraries and the dynamic loader, and the
# shim runs node through that loader. INSTALL_DIR must be mounted at the same path inside and outside the pod
# (the installed files name it).
#
#   NODE_NAME              this node (spec.nodeName)                                  required
#   BPF_OVERLAY_DATASTORE  the agent's datastore URL; TLS files it names are copied    required
#   CNI_BIN_DIR            where the host's runtime looks for plugins                  default /host/opt/cni/bin
#   CNI_NET_DIR            where the host's runtime reads network configuration        default /host/etc/cni/net.d
#   INSTALL_DIR            package, runtime and TLS copies on the host                 default /var/lib/bpf-overlay/cni
#   PKG_DIR                the package to install                                      default: this script's package
#   CONFLIST_TEMPLATE      default PKG_DIR/deploy/cni/10-bpf-overlay.conflist
set -eu

fail() { echo "install-cni: $*" >&2; exit 1; }
[ -n "${NODE_NAME:-}" ] || fail "NODE_NAME is not set (pass spec.nodeName through the downward API)"
[ -n "${BPF_OVERLAY_DATASTORE:-}" ] || fail "BPF_OVERLAY_DATASTORE is not set"
CNI_BIN_DIR=${CNI_BIN_DIR:-/host/opt/cni/bin}
CNI_NET_DIR=${CNI_NET_DIR:-/host/etc/cni/net.d}
INSTALL_DIR=${INSTALL_DIR:-/var/lib/bpf-overlay/cni}
PKG_DIR=${PKG_DIR:-$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)}
CONFLIST_TEMPLATE=${CONFLIST_TEMPLATE:-$PKG_DIR/deploy/cni/10-bpf-overlay.conflist}
NODE_BIN=$(command -v node) || fail "node not found in the image"
[ -f "$PKG_DIR/dist/cni.js" ] || fail "$PKG_DIR/dist/cni.js missing: PKG_DIR is not a built bpf-overlay package"
[ -f "$CONFLIST_TEMPLATE" ] || fail "conflist template $CONFLIST_TEMPLATE missing"
mkdir -p "$CNI_BIN_DIR" "$CNI_NET_DIR" "$(dirname "$INSTALL_DIR")"

stage="$INSTALL_DIR.new.$$"
rm -rf "$stage"
mkdir -p "$stage/runtime/lib" "$stage/etcd-tls"
for part in package.json dist node_modules build bin; do
  cp -a "$PKG_DIR/$part" "$stage/"
done

# node and every native module, with the libraries they load, so that the host's libraries never matter.
cp -L "$NODE_BIN" "$stage/runtime/node"
loader=
for elf in "$stage/runtime/node" $(find "$stage/build" "$stage/node_modules" -name '*.node' -type f); do
  for lib in $(ldd "$elf" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
    cp -Ln "$lib" "$stage/runtime/lib/" 2>/dev/null || true
  done
  [ -n "$loader" ] || loader=$(ldd "$elf" | awk '$1 ~ /^\// && $1 ~ /ld-linux/ { print $1; exit }')
done
[ -n "$loader" ] || fail "cannot find the dynamic loader of $NODE_BIN"
cp -L "$loader" "$stage/runtime/lib/ld.so"
cat > "$stage/runtime/node.sh" <<LAUNCH
#!/bin/sh
# Runs the bundled node with the bundled libraries only (--library-path does not leak into child processes).
# Absolute paths: a runtime may call the plugin with no PATH at all.
exec $INSTALL_DIR/runtime/lib/ld.so --library-path $INSTALL_DIR/runtime/lib $INSTALL_DIR/runtime/node "\$@"
LAUNCH
chmod 0755 "$stage/runtime/node.sh"

# TLS files named in the URL live in the pod's Secret volume; the plugin runs on the host, so it gets copies.
datastore=$("$NODE_BIN" -e '
  const [url, tlsDir, installDir] = process.argv.slice(1);
  const fs = require("node:fs"), path = require("node:path");
  const q = url.indexOf("?");
  if (q < 0) { process.stdout.write(url); process.exit(0); }
  const params = new URLSearchParams(url.slice(q + 1));
  for (const key of ["ca", "cert", "key"]) {
    const file = params.get(key);
    if (!file) continue;
    const copy = path.join(tlsDir, "etcd-" + key + ".pem");
    fs.copyFileSync(file, copy);
    fs.chmodSync(copy, 0o600);
    params.set(key, path.join(installDir, "etcd-tls", path.basename(copy)));
  }
  process.stdout.write(url.slice(0, q + 1) + decodeURIComponent(params.toString()));
' "$BPF_OVERLAY_DATASTORE" "$stage/etcd-tls" "$INSTALL_DIR")

# Swap the whole tree in one rename, so a plugin call never sees half an install.
if [ -e "$INSTALL_DIR" ]; then mv "$INSTALL_DIR" "$INSTALL_DIR.old.$$"; fi
mv "$stage" "$INSTALL_DIR"
rm -rf "$INSTALL_DIR.old.$$"

shim_tmp="$CNI_BIN_DIR/.bpf-overlay.$$"
cat > "$shim_tmp" <<SHIM
#!/bin/sh
# Installed by bpf-overlay install-cni for node $NODE_NAME. Runtimes call plugins with a bare environment.
export BPF_OVERLAY_HOME=$INSTALL_DIR BPF_OVERLAY_NODE=$INSTALL_DIR/runtime/node.sh
exec $INSTALL_DIR/bin/bpf-overlay-cni "\$@"
SHIM
chmod 0755 "$shim_tmp"
mv "$shim_tmp" "$CNI_BIN_DIR/bpf-overlay"

conf_tmp="$CNI_NET_DIR/.10-bpf-overlay.conflist.$$"
"$NODE_BIN" -e '
  const [template, out, datastore, node] = process.argv.slice(1);
  const fs = require("node:fs");
  const conf = JSON.parse(fs.readFileSync(template, "utf8"));
  const plugin = conf.plugins.find((p) => p.type === "bpf-overlay");
  if (!plugin) throw new Error(template + ": no plugin of type bpf-overlay");
  plugin.datastore = datastore;
  plugin.nodeName = node;
  fs.writeFileSync(out, JSON.stringify(conf, null, 2) + "\n", { mode: 0o600 });
' "$CONFLIST_TEMPLATE" "$conf_tmp" "$datastore" "$NODE_NAME"
mv "$conf_tmp" "$CNI_NET_DIR/10-bpf-overlay.conflist"
echo "install-cni: plugin $CNI_BIN_DIR/bpf-overlay -> $INSTALL_DIR, config $CNI_NET_DIR/10-bpf-overlay.conflist (node $NODE_NAME)"
