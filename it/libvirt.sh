#!/usr/bin/env bash
# Ferry's libvirt integration tests, on real daemons with a real QEMU guest.
#
# Installs QEMU and libvirt from Debian's packages if missing, builds the test guest from C,
# starts two libvirt daemons with distinct host UUIDs inside a network namespace of its own,
# runs the integration tests (Maven profile libvirt-it of libvirt-adapter), and stops everything
# it started, also when a test fails. Exits non-zero when any test fails. Needs root.
#
#   it/libvirt.sh              # all integration tests
#   it/libvirt.sh -Dit.test=LibvirtMigrationIT   # extra Maven arguments are passed on
#
# Environment: FERRY_IT_VIRT_TYPE=kvm|qemu forces the accelerator (default: kvm when /dev/kvm
# works, else qemu/TCG); FERRY_IT_KEEP=1 keeps the work directory for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

if [[ $(id -u) -ne 0 ]]; then
  echo "it/libvirt.sh: needs root (it starts libvirt daemons and a network namespace)" >&2
  exit 2
fi

# ---- packages
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86 qemu-utils)
command -v libvirtd >/dev/null 2>&1 || need+=(libvirt-daemon-system)
command -v virsh >/dev/null 2>&1 || need+=(libvirt-clients)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v ld >/dev/null 2>&1 || need+=(binutils)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

work="$(mktemp -d /tmp/ferry-it.XXXXXX)"
ns="ferry-it-$$"
pids=()

uri_of() { echo "qemu+unix:///system?socket=$work/$1/sock/libvirt-sock"; }

stop_all() {
  local rc=$?
  set +e
  echo "stopping the test stack"
  for d in a b; do
    if [[ -S "$work/$d/sock/libvirt-sock" ]]; then
      for dom in $(virsh -c "$(uri_of $d)" list --name 2>/dev/null); do
        virsh -c "$(uri_of $d)" destroy "$dom" >/dev/null 2>&1
      done
    fi
  done
  for d in a b; do
    local pidfile="$work/$d/libvirtd.pid"
    if [[ -s "$pidfile" ]]; then
      local pid
      pid="$(cat "$pidfile")"
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
    # QEMU processes the daemon started and did not end (their pidfiles are in its run dir)
    for qp in "$work/$d/run/qemu/"*.pid; do
      [[ -s "$qp" ]] || continue
      kill -KILL "$(cat "$qp")" 2>/dev/null
    done
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  if [[ "${FERRY_IT_KEEP:-0}" == 1 ]]; then
    echo "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# ---- the test guest
"$root/it/guest/build.sh" "$work/guest.elf"

# ---- two daemons in a network namespace of our own
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt

start_daemon() {
  local d="$1" uuid="$2" pmin="$3" pmax="$4"
  local base="$work/$d"
  mkdir -p "$base"/{etc,run,lib,cache,log,sock} "$base/lib/ferry-serial"
  cat > "$base/etc/libvirtd.conf" <<CONF
host_uuid = "$uuid"
unix_sock_dir = "$base/sock"
auth_unix_rw = "none"
auth_unix_ro = "none"
listen_tcp = 0
listen_tls = 0
log_outputs = "3:file:$base/log/libvirtd.log"
CONF
  cat > "$base/etc/qemu.conf" <<CONF
security_driver = "none"
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
stdio_handler = "file"
cgroup_controllers = [ ]
migration_port_min = $pmin
migration_port_max = $pmax
CONF
  ip netns exec "$ns" unshare -m --propagation private sh -c "
    mount --bind '$base/etc' /etc/libvirt &&
    mount --bind '$base/run' /run/libvirt &&
    mount --bind '$base/lib' /var/lib/libvirt &&
    mount --bind '$base/cache' /var/cache/libvirt &&
    mount --bind '$base/log' /var/log/libvirt &&
    exec libvirtd -f /etc/libvirt/libvirtd.conf -p '$base/libvirtd.pid'" \
    >"$base/stdout.log" 2>&1 &
  pids+=($!)
}
start_daemon a 8f0e3c52-1b7a-4c61-9d7e-3a5a0f000a01 49152 49169
start_daemon b 8f0e3c52-1b7a-4c61-9d7e-3a5a0f000b02 49200 49217

for d in a b; do
  ok=0
  for _ in $(seq 1 200); do
    if virsh -c "$(uri_of $d)" version >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  if [[ $ok -ne 1 ]]; then
    echo "libvirt daemon $d did not come up; its logs:" >&2
    cat "$work/$d/stdout.log" "$work/$d/log/libvirtd.log" >&2 2>/dev/null || true
    exit 1
  fi
done
echo "daemons up: $(uri_of a) and $(uri_of b)"

virt="${FERRY_IT_VIRT_TYPE:-}"
if [[ -z "$virt" ]]; then
  if [[ -r /dev/kvm && -w /dev/kvm ]] && virsh -c "$(uri_of a)" domcapabilities --virttype kvm >/dev/null 2>&1; then
    virt=kvm
  else
    virt=qemu
  fi
fi
echo "guest accelerator: $virt"

# ---- the tests
mvn_offline=()
if [[ "${FERRY_IT_OFFLINE:-0}" == 1 ]]; then mvn_offline=(-o); fi
set +e
mvn -B "${mvn_offline[@]}" -Plibvirt-it -pl libvirt-adapter -am verify \
  -Dtest='LibvirtSkipUnitTestsInIt' -Dsurefire.failIfNoSpecifiedTests=false \
  -Dferry.it.src="$(uri_of a)" -Dferry.it.dst="$(uri_of b)" \
  -Dferry.it.srcLib="$work/a/lib" -Dferry.it.dstLib="$work/b/lib" \
  -Dferry.it.kernel="$work/guest.elf" -Dferry.it.virtType="$virt" "$@"
rc=$?
set -e

# ---- the libvirt sample, on a fresh guest: its last line must be JSON saying COMPLETED
sample_rc=0
if [[ $rc -eq 0 ]]; then
  jar="$root/samples/target/ferry-samples.jar"
  if [[ ! -f "$jar" || "${FERRY_IT_REBUILD_SAMPLES:-1}" == 1 ]]; then
    mvn -B -q "${mvn_offline[@]}" package -DskipTests -pl samples -am
  fi
  dom=ferry-sample
  cat > "$work/sample.xml" <<XML
<domain type='$virt'><name>$dom</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>$work/guest.elf</kernel><cmdline>mb=32 rate=4</cmdline></os>
<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
<devices><serial type='file'><source path='/var/lib/libvirt/ferry-serial/$dom.log' append='on'/><target port='0'/></serial>
<controller type='usb' model='none'/><memballoon model='none'/></devices></domain>
XML
  virsh -q -c "$(uri_of a)" create "$work/sample.xml"
  for _ in $(seq 1 300); do
    [[ $(grep -c '^HB ' "$work/a/lib/ferry-serial/$dom.log" 2>/dev/null || true) -ge 2 ]] && break
    sleep 0.2
  done
  echo "--- java -jar samples/target/ferry-samples.jar libvirt-migrate ..."
  set +e
  java -jar "$jar" libvirt-migrate --source "$(uri_of a)" --destination "$(uri_of b)" --domain "$dom" \
    --max-downtime 300ms --bandwidth 100MB/s | tee "$work/sample.out"
  sample_rc=${PIPESTATUS[0]}
  set -e
  last="$(tail -n 1 "$work/sample.out")"
  sleep 3
  dest_hb=$(grep -c '^HB ' "$work/b/lib/ferry-serial/$dom.log" 2>/dev/null || true)
  corrupt=$(cat "$work/a/lib/ferry-serial/$dom.log" "$work/b/lib/ferry-serial/$dom.log" 2>/dev/null | grep -c CORRUPT || true)
  if [[ $sample_rc -ne 0 || "$last" != *'"outcome":"COMPLETED"'* || "$last" == *'"downtimeMs":0,'* \
        || "$dest_hb" -lt 2 || "$corrupt" -ne 0 ]]; then
    echo "libvirt sample FAILED: exit $sample_rc, last line: $last, heartbeats on the destination: $dest_hb, CORRUPT lines: $corrupt" >&2
    sample_rc=1
  else
    echo "libvirt sample OK: $dest_hb heartbeats on the destination since, no CORRUPT"
  fi
fi
if [[ $rc -eq 0 && $sample_rc -ne 0 ]]; then rc=1; fi
if [[ $rc -ne 0 ]]; then
  echo "integration tests FAILED (exit $rc)" >&2
  for d in a b; do
    echo "--- last lines of libvirtd $d log" >&2
    tail -n 20 "$work/$d/log/libvirtd.log" >&2 2>/dev/null || true
  done
fi
exit $rc
