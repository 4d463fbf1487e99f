#!/usr/bin/env bash
# The Debian package end to end, on a clean Debian 12 root without Swift: a minbase root made with debootstrap (plus
# systemd; cached as a tarball in .build/package-test, so only the first run downloads it), booted with its own
# systemd 252 as PID 1 of fresh pid+mount+uts+cgroup namespaces whose root it is (pivot_root; technique of
# scripts/systemd-e2e.sh). Inside it:
# `dpkg -i` (Depends satisfied by the root as it is; postinst reloads systemd and starts nothing), the binary runs
# with no Swift runtime anywhere in the root, the operator's steps (edit the conffile, check-config, `systemctl enable
# --now redis-healthd`) reach READY=1 and a healthy target (a redis-server on this host's loopback), `dpkg -r` stops
# the daemon and removes it but keeps the configuration, `dpkg --purge` removes that and the enablement link.
#   scripts/package-test.sh path/to/redis-healthd_VERSION_amd64.deb
# DEBIAN_MIRROR picks the mirror for debootstrap. Needs root, cgroup2 and debootstrap; prints SKIPPED otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(realpath "$1")
cg2root=$(findmnt -n -t cgroup2 -o TARGET | head -1 || true)
if [ "$(id -u)" -ne 0 ] || [ -z "$cg2root" ] || ! command -v debootstrap >/dev/null; then
    echo "SKIPPED package test: needs root, a cgroup2 mount and debootstrap"; exit 0
fi
cache=$PWD/.build/package-test
rootfs=$cache/bookworm-minbase-systemd.tar
lab=$(mktemp -d)
root=$lab/root
cg=$cg2root/redis-healthd-package-$$
sysd_pid=; unshare_pid=; redis_pid=
fail() {
    echo "FAIL package test: $*"
    [ -n "$sysd_pid" ] && $S journalctl -u redis-healthd --no-pager -n 30 2>/dev/null
    exit 1
}
teardown() {
    set +e
    if [ -n "$sysd_pid" ] && kill -0 "$sysd_pid" 2>/dev/null; then
        nsenter -t "$sysd_pid" -m -p -r -w systemctl --no-block exit >/dev/null 2>&1
        for _ in $(seq 100); do kill -0 "$unshare_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$sysd_pid" 2>/dev/null && kill -KILL "$sysd_pid"
    fi
    [ -n "$unshare_pid" ] && wait "$unshare_pid" 2>/dev/null
    [ -n "$redis_pid" ] && { kill -9 "$redis_pid"; wait "$redis_pid"; } 2>/dev/null
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
    rm -rf "$lab"
}
trap teardown EXIT

# ---- a clean Debian 12 root (no Swift), made once
if [ ! -s "$rootfs" ]; then
    echo "==> debootstrap: Debian 12 minbase with systemd (once; cached in $rootfs)"
    mkdir -p "$cache"
    t0=$(date +%s)
    debootstrap --variant=minbase --include=systemd bookworm "$lab/bootstrap" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
        > "$lab/debootstrap.log" 2>&1 || { tail -20 "$lab/debootstrap.log"; fail "debootstrap failed"; }
    tar -C "$lab/bootstrap" -cf "$rootfs.tmp" . && mv "$rootfs.tmp" "$rootfs"
    rm -rf "$lab/bootstrap"
    echo "root made in $(( $(date +%s) - t0 )) s"
fi
mkdir -p "$root"
tar -C "$root" -xf "$rootfs"
[ ! -e "$root/opt/swift" ] && [ -z "$(find "$root" -xdev \( -name 'libswiftCore*' -o -name 'libFoundation*.so*' -o -name 'swift' \) -print -quit)" ] \
    || fail "the root is not free of Swift"
cp "$deb" "$root/root/redis-healthd.deb"

# ---- the target: a redis-server on this host's loopback (the namespaces share the network)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$lab" --logfile "$lab/redis.log" --daemonize no &
redis_pid=$!
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done

# ---- boot the root's own systemd: stub targets instead of a full boot, generators off
units=$root/run-seed/units
mkdir -p "$units" "$root/run-seed/none"; : > "$lab/console.log"
for t in sysinit basic sockets local-fs network network-online nss-lookup multi-user timers paths slices; do
    printf '[Unit]\nDescription=stub %s\nDefaultDependencies=no\n' "$t" > "$units/$t.target"
done
printf '[Unit]\nDescription=package test boot\nDefaultDependencies=no\nWants=systemd-journald.socket systemd-journald.service\n' \
    > "$units/package-test.target"
cat > "$lab/inner.sh" <<'INNER'
#!/bin/bash
set -e
lab=$1; root=$lab/root
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount -t tmpfs tmpfs "$root/sys/fs/cgroup"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount --bind "$lab/console.log" "$root/dev/console"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
cp -a "$root/run-seed/." "$root/run/"
mkdir -p "$root/run/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nReadKMsg=no\n' > "$root/run/systemd/journald.conf.d/test.conf"
export container=redis-healthd-package-test SYSTEMD_UNIT_PATH=/run/units:/etc/systemd/system:/lib/systemd/system
export SYSTEMD_GENERATOR_PATH=/run/none SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/none
# pivot_root, not chroot: a chrooted process may not create user namespaces (the unit's PrivateUsers=yes).
cd "$root"
mkdir -p oldroot
pivot_root . oldroot
umount -l /oldroot
rmdir /oldroot
exec /lib/systemd/systemd --unit=package-test.target --log-target=journal --log-level=info </dev/null >/dev/console 2>&1
INNER
chmod +x "$lab/inner.sh"
mkdir -p "$cg"
setsid bash -c "echo \$\$ > $cg/cgroup.procs; exec unshare --pid --fork --mount --uts --cgroup $lab/inner.sh $lab" \
    </dev/null >"$lab/unshare.log" 2>&1 &
unshare_pid=$!
for _ in $(seq 50); do sysd_pid=$(pgrep -P "$unshare_pid" || true); [ -n "$sysd_pid" ] && break; sleep 0.1; done
[ -n "$sysd_pid" ] || fail "the manager did not start: $(cat "$lab/unshare.log")"
S="nsenter -t $sysd_pid -m -p -u -r -w"
for _ in $(seq 100); do st=$($S systemctl is-system-running 2>/dev/null || true); [ "$st" = running ] && break; sleep 0.1; done
[ "$st" = running ] || fail "the root's systemd is not running ($st): $(tail -5 "$lab/console.log")"
echo "the root's own systemd $($S systemctl --version | head -1 | cut -d' ' -f2) is running (PID $sysd_pid on the host)"
$S sh -c '! command -v swift && ! ls /usr/lib/swift /opt/swift' >/dev/null 2>&1 || fail "Swift is visible inside the root"

# ---- install: Depends met by the clean root, nothing started
$S dpkg -i /root/redis-healthd.deb > "$lab/dpkg-i.log" 2>&1 || { cat "$lab/dpkg-i.log"; fail "dpkg -i failed"; }
grep -q "systemctl enable --now redis-healthd" "$lab/dpkg-i.log" || fail "postinst did not say how to start it"
echo "dpkg -i: installed ($($S dpkg-query -W -f '${Version}, Depends: ${Depends}' redis-healthd))"
[ "$($S systemctl is-enabled redis-healthd 2>&1)" = disabled ] || fail "the unit is not disabled after install"
[ "$($S systemctl is-active redis-healthd 2>&1)" = inactive ] || fail "the daemon was started on install"
if $S ldd /usr/bin/redis-healthd | grep -E 'not found|swift|Foundation'; then fail "the binary needs libraries the root lacks"; fi
echo "ldd in the root: $($S ldd /usr/bin/redis-healthd | awk '{print $1}' | tr '\n' ' ')"
# --version: the package's version, then the commit and build date.
$S redis-healthd --version | grep -q "^$(dpkg-deb -f "$deb" Version) (commit " || fail "redis-healthd --version"
for f in /usr/share/man/man1/redis-healthd.1.gz /usr/share/bash-completion/completions/redis-healthd \
    /usr/share/zsh/vendor-completions/_redis-healthd /usr/share/fish/vendor_completions.d/redis-healthd.fish \
    /usr/share/redis-healthd/redis-healthd.rules.yml /lib/systemd/system/redis-healthd.service /etc/redis-healthd/redis-healthd.yaml; do
    $S test -s "$f" || fail "$f is missing"
done
$S zcat /usr/share/man/man1/redis-healthd.1.gz | grep -q "unit-dropin" || fail "the man page does not document unit-dropin"
$S grep -q "unit-dropin" /usr/share/bash-completion/completions/redis-healthd || fail "the bash completion lacks unit-dropin"
[ "$($S dpkg-query --control-show redis-healthd conffiles)" = /etc/redis-healthd/redis-healthd.yaml ] || fail "conffiles"

# ---- the operator's steps
$S sed -i -E "s/^    port: 6379\$/    port: $port/; s/^  - name: local( +#)/  - name: pkg\\1/" /etc/redis-healthd/redis-healthd.yaml
$S redis-healthd check-config || fail "check-config of the edited configuration"
t0=$(date +%s%N)
$S systemctl enable --now redis-healthd > /dev/null 2>&1 || fail "systemctl enable --now failed"
echo "enable --now → active (READY=1) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
show() { $S systemctl show -P "$1" redis-healthd; }
[ "$(show ActiveState)" = active ] || fail "not active"
for _ in $(seq 100); do show StatusText | grep -q "1/1 targets healthy; pkg" && break; sleep 0.1; done
show StatusText | grep -q "1/1 targets healthy; pkg" || fail "StatusText: $(show StatusText)"
echo "StatusText: $(show StatusText)"
$S redis-healthd status | grep -E "^pkg +healthy" || fail "redis-healthd status"
[ "$(redis-cli -p "$port" client list | grep -c 'name=redis-healthd#')" -ge 1 ] || fail "no redis-healthd connection in CLIENT LIST"

# ---- remove: stopped, files gone, configuration kept; purge: configuration and enablement gone
$S dpkg -r redis-healthd > "$lab/dpkg-r.log" 2>&1 || { cat "$lab/dpkg-r.log"; fail "dpkg -r failed"; }
[ "$(show ActiveState)" = inactive ] || fail "still $(show ActiveState) after dpkg -r"
$S test ! -e /usr/bin/redis-healthd -a ! -e /lib/systemd/system/redis-healthd.service || fail "files left after dpkg -r"
$S grep -q "port: $port" /etc/redis-healthd/redis-healthd.yaml || fail "dpkg -r did not keep the edited configuration"
[ "$($S dpkg-query -W -f '${db:Status-Abbrev}' redis-healthd)" = "rc " ] || fail "status after dpkg -r"
echo "dpkg -r: stopped, removed, configuration kept (rc)"
$S dpkg --purge redis-healthd > "$lab/dpkg-purge.log" 2>&1 || { cat "$lab/dpkg-purge.log"; fail "dpkg --purge failed"; }
$S test ! -e /etc/redis-healthd/redis-healthd.yaml -a ! -e /etc/systemd/system/multi-user.target.wants/redis-healthd.service \
    || fail "dpkg --purge left the configuration or the enablement link"
left=$($S find / -xdev -name '*redis-healthd*' -not -path '/proc/*' -not -path '/root/redis-healthd.deb' -not -path '/var/log/*' 2>/dev/null || true)
[ -z "$left" ] || fail "left after purge: $left"
echo "dpkg --purge: nothing left"
echo "package test passed"
