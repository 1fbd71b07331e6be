LC_ALL=C
export LC_ALL
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin:$PATH
export PATH
exec 2>/dev/null
if [ "$(id -u)" = 0 ]; then _rb_sudo=""; else _rb_sudo="sudo -n"; fi
_rb_codes=""
_rb_have() { command -v "$1" >/dev/null 2>&1; }
# Print the captured output (command substitution dropped its trailing newlines) and remember
# the section's exit status for the exit-codes section.
_rb_end() {
  [ -n "$_rb_out" ] && printf '%s\n' "$_rb_out"
  _rb_codes="$_rb_codes$1 $2
"
}
# Run a command as root: directly when root, else via sudo -n; 126 when sudo refuses.
_rb_root() {
  _rb_have "$1" || return 127
  if [ -z "$_rb_sudo" ]; then "$@"; return $?; fi
  # `sudo -l CMD` asks whether this very command is allowed, so a least-privilege sudoers
  # file (README) that permits only the probe's commands is enough.
  sudo -n -l "$@" >/dev/null || return 126
  sudo -n "$@"
}
# Try unprivileged first; only a failure is retried as root.
_rb_maybe_root() {
  _rb_have "$1" || return 127
  "$@" && return 0
  _rb_root "$@"
}

# The shell parses this whole group before running it, so when the script arrives on stdin
# (`ssh host sh -s`) no command inside can swallow the rest of it: their stdin is /dev/null.
{
echo '@@rebootable:now@@'
_rb_out=$(date +%s); _rb_end now $?

echo '@@rebootable:os-release@@'
_rb_out=$(cat /etc/os-release || cat /usr/lib/os-release); _rb_end os-release $?

echo '@@rebootable:uname-r@@'
_rb_out=$(uname -r); _rb_end uname-r $?

echo '@@rebootable:boot-id@@'
_rb_out=$(cat /proc/sys/kernel/random/boot_id); _rb_end boot-id $?

echo '@@rebootable:uptime@@'
_rb_out=$(cat /proc/uptime); _rb_end uptime $?

echo '@@rebootable:boot-files@@'
_rb_out=$(ls -1 /boot); _rb_end boot-files $?

echo '@@rebootable:boot-df@@'
_rb_out=$(df -P /boot); _rb_end boot-df $?

echo '@@rebootable:proc-cmdline@@'
_rb_out=$(cat /proc/cmdline); _rb_end proc-cmdline $?

echo '@@rebootable:modules-dirs@@'
_rb_out=$(ls -1 /lib/modules); _rb_end modules-dirs $?

echo '@@rebootable:kernels-dpkg@@'
_rb_out=$(dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' 'linux-image-*')
_rb_end kernels-dpkg $?

echo '@@rebootable:kernels-rpm@@'
if _rb_have rpm; then
  _rb_out=$(rpm -q kernel kernel-core kernel-uek kernel-default); _rb_st=$?
  # rpm exits with the number of packages not installed; any answer is an answer.
  [ -n "$_rb_out" ] && _rb_st=0
else
  _rb_out=""; _rb_st=127
fi
_rb_end kernels-rpm $_rb_st

echo '@@rebootable:default-kernel@@'
_rb_out=$(_rb_maybe_root grubby --default-kernel); _rb_end default-kernel $?

echo '@@rebootable:reboot-required@@'
_rb_out=$(cat /var/run/reboot-required); _rb_end reboot-required $?

echo '@@rebootable:reboot-required-pkgs@@'
_rb_out=$(cat /var/run/reboot-required.pkgs); _rb_end reboot-required-pkgs $?

echo '@@rebootable:needrestart@@'
_rb_out=$(_rb_root needrestart -b); _rb_end needrestart $?

echo '@@rebootable:needs-restarting@@'
if _rb_have needs-restarting; then
  _rb_out=$(needs-restarting -r); _rb_st=$?
elif _rb_have dnf && dnf needs-restarting --help >/dev/null; then
  _rb_out=$(dnf -q needs-restarting -r); _rb_st=$?
else
  _rb_out=""; _rb_st=127
fi
_rb_end needs-restarting $_rb_st

echo '@@rebootable:livepatch-canonical@@'
if _rb_have canonical-livepatch; then
  _rb_out=$(canonical-livepatch status --format json); _rb_st=$?
  if [ $_rb_st -ne 0 ] || [ -z "$_rb_out" ]; then
    # Old clients have no --format; a disabled or refusing client fails both ways and says why
    # on stderr ("Machine is not enabled", "…is not eligible for livepatch updates"): keep it.
    _rb_out=$(canonical-livepatch status 2>&1); _rb_st=$?
  fi
else
  _rb_out=""; _rb_st=127
fi
_rb_end livepatch-canonical $_rb_st

echo '@@rebootable:kpatch@@'
_rb_out=$(kpatch list); _rb_end kpatch $?

echo '@@rebootable:ksplice@@'
if _rb_have uptrack-show; then
  _rb_out=$(uptrack-uname -r; _rb_root uptrack-show); _rb_st=$?
else
  _rb_out=""; _rb_st=127
fi
_rb_end ksplice $_rb_st

echo '@@rebootable:sys-livepatch@@'
_rb_out=$(for _rb_d in /sys/kernel/livepatch/*; do
  [ -d "$_rb_d" ] || continue
  printf '%s enabled=%s transition=%s\n' "${_rb_d##*/}" \
    "$(cat "$_rb_d/enabled")" "$(cat "$_rb_d/transition")"
done); _rb_end sys-livepatch $?

echo '@@rebootable:systemd-state@@'
_rb_out=$(systemctl is-system-running); _rb_end systemd-state $?

echo '@@rebootable:unit-files@@'
_rb_out=$(systemctl list-unit-files --type=service --no-legend --no-pager); _rb_end unit-files $?

echo '@@rebootable:units@@'
_rb_out=$(systemctl list-units --type=service --all --no-legend --no-pager --plain)
_rb_end units $?

echo '@@rebootable:failed-units@@'
_rb_out=$(systemctl list-units --failed --no-legend --no-pager --plain); _rb_end failed-units $?

echo '@@rebootable:fstab@@'
_rb_out=$(cat /etc/fstab); _rb_end fstab $?

echo '@@rebootable:mounts@@'
_rb_out=$(cat /proc/self/mounts); _rb_end mounts $?

echo '@@rebootable:sysctl-persisted@@'
# One '#@file <path>' comment before each file lets the parser order files as systemd-sysctl
# does; the content stays valid sysctl.conf syntax.
_rb_out=$(for _rb_f in /etc/sysctl.d/*.conf /run/sysctl.d/*.conf \
  /usr/local/lib/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf /etc/sysctl.conf; do
  [ -f "$_rb_f" ] || continue
  printf '#@file %s\n' "$_rb_f"
  cat "$_rb_f"
  echo
done); _rb_end sysctl-persisted $?

echo '@@rebootable:sysctl-runtime@@'
_rb_out=$(sysctl -a); _rb_end sysctl-runtime $?

echo '@@rebootable:probe-version@@'
_rb_out=1; _rb_end probe-version 0

echo '@@rebootable:grub-default@@'
_rb_out=$(
  if _rb_have grub2-editenv; then _rb_maybe_root grub2-editenv list; _rb_st=$?
  elif _rb_have grub-editenv; then _rb_maybe_root grub-editenv list; _rb_st=$?
  else _rb_st=127
  fi
  grep '^GRUB_DEFAULT=' /etc/default/grub && [ $_rb_st -eq 127 ] && _rb_st=0
  exit $_rb_st
); _rb_end grub-default $?

echo '@@rebootable:vmlinuz-link@@'
_rb_out=$(for _rb_f in /vmlinuz /boot/vmlinuz; do
  [ -L "$_rb_f" ] && readlink -f "$_rb_f"
done; true); _rb_end vmlinuz-link $?

echo '@@rebootable:socket-units@@'
_rb_out=$(systemctl list-sockets --all --no-legend --no-pager); _rb_end socket-units $?

echo '@@rebootable:timer-units@@'
_rb_out=$(systemctl list-timers --all --no-legend --no-pager); _rb_end timer-units $?

echo '@@rebootable:exit-codes@@'
printf '%s' "$_rb_codes"
} </dev/null
