"""The probe: one POSIX sh script run on each host in a single SSH round trip (protocol v2).

Every section is opened by a marker line `@@rebootable:<name>@@` followed by the verbatim output
of one command; the last section, `exit-codes`, holds one `<section> <status>` line per section.
Status 127 means the tool is missing; 126 means the section needs root and `sudo -n` was
refused (the README ships a least-privilege sudoers file). The markers are spelled out literally
so a reader (or the simulated fleet) finds every section name in the script text, in order.

Runs under dash, bash and busybox sh: no arrays, no `local`, no `$'…'`, no process substitution.

v2 (docs/probe-protocol.md) prints the same sections in the same formats as v1, but
`sysctl-runtime` holds only the keys the audit keeps (`fleet/sysctl_watch.py` tunables, the keys
the sysctl.d files name, their globs expanded over /proc/sys) asked of `sysctl KEY…` instead of
all of `sysctl -a`, sysctl files print without comments, small files are read with the shell's
`read` instead of a `cat` process each, and a missing tool costs no fork.
"""

from fleet.sysctl_watch import TUNABLES

PROBE_VERSION = 2

SECTIONS: tuple[str, ...] = (
    "now",
    "os-release",
    "uname-r",
    "boot-id",
    "uptime",
    "boot-files",
    "boot-df",
    "proc-cmdline",
    "modules-dirs",
    "kernels-dpkg",
    "kernels-rpm",
    "default-kernel",
    "reboot-required",
    "reboot-required-pkgs",
    "needrestart",
    "needs-restarting",
    "livepatch-canonical",
    "kpatch",
    "ksplice",
    "sys-livepatch",
    "systemd-state",
    "unit-files",
    "units",
    "failed-units",
    "fstab",
    "mounts",
    "sysctl-persisted",
    "sysctl-runtime",
    "probe-version",
    "grub-default",
    "vmlinuz-link",
    "socket-units",
    "timer-units",
    "exit-codes",
)

# Sections whose command runs through `sudo -n` when the probe is not root.
ROOT_SECTIONS: frozenset[str] = frozenset(
    {"needrestart", "default-kernel", "grub-default", "ksplice"}
)


def proc_sys_path(key: str) -> str:
    """A dotted sysctl key's file: dots are separators, a `/` in a segment is a literal dot."""
    return "/proc/sys/" + key.translate(str.maketrans("./", "/."))


_TEMPLATE = r"""LC_ALL=C
export LC_ALL
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin:$PATH
export PATH
exec 2>/dev/null
_rb_nl='
'
_rb_codes=""
_rb_have() { command -v "$1" >/dev/null 2>&1; }
# Print the captured output (command substitution dropped its trailing newlines) and remember
# the section's exit status for the exit-codes section.
_rb_end() {
  [ -n "$_rb_out" ] && printf '%s\n' "$_rb_out"
  _rb_out=""
  _rb_codes="$_rb_codes$1 $2
"
}
# Run a command whose tool may be missing: 127 without forking a subshell for it.
_rb_cmd() {
  _rb_out=""
  _rb_have "$1" || return 127
  _rb_out=$("$@")
}
# Print a small file line by line with the shell's own `read` (no `cat` process); 1 when it
# cannot be read, as `cat` exits. A last line without its newline still prints, with one.
_rb_print() {
  [ -r "$1" ] || return 1
  while IFS= read -r _rb_l || [ -n "$_rb_l" ]; do printf '%s\n' "$_rb_l"; done < "$1"
}
# One line of a /proc or /sys file into _rb_out.
_rb_line() {
  _rb_out=""
  [ -r "$1" ] || return 1
  IFS= read -r _rb_out < "$1" || [ -n "$_rb_out" ]
}
# List a directory as `ls -1` does (names sorted, no dot files) with a glob; 2 when it is missing.
_rb_ls() {
  [ -d "$1" ] || return 2
  for _rb_f in "$1"/*; do
    [ -e "$_rb_f" ] || [ -L "$_rb_f" ] || continue
    printf '%s\n' "${_rb_f##*/}"
  done
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
# Swap dots and slashes in $1 into _rb_s: a sysctl key's dotted form <-> its /proc/sys path
# (an interface named `eth0.100` is the key segment `eth0/100`), builtins only.
_rb_swap() {
  _rb_s=""; _rb_r=$1
  while [ -n "$_rb_r" ]; do
    _rb_h=${_rb_r%%[./]*}
    _rb_s=$_rb_s$_rb_h
    _rb_r=${_rb_r#"$_rb_h"}
    case $_rb_r in
      .*) _rb_s=$_rb_s/ ;;
      /*) _rb_s=$_rb_s. ;;
    esac
    _rb_r=${_rb_r#?}
  done
}
# Remember the /proc/sys path of the key a sysctl.d line sets (globs kept for the shell to
# expand), as systemd-sysctl reads it: `-` prefix dropped, a first `/` separator keeps dots.
_rb_sysctl_key() {
  case $1 in *=*) ;; *) return ;; esac
  _rb_k=${1%%=*}
  _rb_k=${_rb_k#"${_rb_k%%[! 	]*}"}
  _rb_k=${_rb_k%"${_rb_k##*[! 	]}"}
  case $_rb_k in ''|'#'*|';'*) return ;; esac
  _rb_k=${_rb_k#-}
  _rb_k=${_rb_k#/}
  case ${_rb_k#"${_rb_k%%[./]*}"} in
    /*) _rb_s=$_rb_k ;;
    *) _rb_swap "$_rb_k" ;;
  esac
  case $_rb_s in *..*|'') return ;; esac
  _rb_paths="$_rb_paths/proc/sys/$_rb_s$_rb_nl"
}
_rb_uid=""
if [ -r /proc/self/status ]; then
  while read -r _rb_l _rb_real _rb_eff _rb_rest; do
    [ "$_rb_l" = Uid: ] && { _rb_uid=$_rb_eff; break; }
  done < /proc/self/status
fi
[ -n "$_rb_uid" ] || _rb_uid=$(id -u)
if [ "$_rb_uid" = 0 ]; then _rb_sudo=""; else _rb_sudo="sudo -n"; fi

# The shell parses this whole group before running it, so when the script arrives on stdin
# (`ssh host sh -s`) no command inside can swallow the rest of it: their stdin is /dev/null.
{
echo '@@rebootable:now@@'
_rb_out=$(date +%s); _rb_end now $?

echo '@@rebootable:os-release@@'
_rb_print /etc/os-release || _rb_print /usr/lib/os-release; _rb_end os-release $?

echo '@@rebootable:uname-r@@'
# The kernel's release string, the one `uname -r` prints.
if [ -r /proc/sys/kernel/osrelease ]; then _rb_line /proc/sys/kernel/osrelease
else _rb_out=$(uname -r); fi
_rb_end uname-r $?

echo '@@rebootable:boot-id@@'
_rb_line /proc/sys/kernel/random/boot_id; _rb_end boot-id $?

echo '@@rebootable:uptime@@'
_rb_line /proc/uptime; _rb_end uptime $?

echo '@@rebootable:boot-files@@'
_rb_ls /boot; _rb_end boot-files $?

echo '@@rebootable:boot-df@@'
_rb_cmd df -P /boot; _rb_end boot-df $?

echo '@@rebootable:proc-cmdline@@'
_rb_line /proc/cmdline; _rb_end proc-cmdline $?

echo '@@rebootable:modules-dirs@@'
_rb_ls /lib/modules; _rb_end modules-dirs $?

echo '@@rebootable:kernels-dpkg@@'
_rb_cmd dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' 'linux-image-*'
_rb_end kernels-dpkg $?

echo '@@rebootable:kernels-rpm@@'
_rb_cmd rpm -q kernel kernel-core kernel-uek kernel-default; _rb_st=$?
# rpm exits with the number of packages not installed; any answer is an answer.
[ -n "$_rb_out" ] && _rb_st=0
_rb_end kernels-rpm $_rb_st

echo '@@rebootable:default-kernel@@'
_rb_out=""; _rb_st=127
_rb_have grubby && { _rb_out=$(_rb_maybe_root grubby --default-kernel); _rb_st=$?; }
_rb_end default-kernel $_rb_st

echo '@@rebootable:reboot-required@@'
_rb_print /var/run/reboot-required; _rb_end reboot-required $?

echo '@@rebootable:reboot-required-pkgs@@'
_rb_print /var/run/reboot-required.pkgs; _rb_end reboot-required-pkgs $?

echo '@@rebootable:needrestart@@'
_rb_out=""; _rb_st=127
_rb_have needrestart && { _rb_out=$(_rb_root needrestart -b); _rb_st=$?; }
_rb_end needrestart $_rb_st

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
_rb_cmd kpatch list; _rb_end kpatch $?

echo '@@rebootable:ksplice@@'
if _rb_have uptrack-show; then
  _rb_out=$(uptrack-uname -r; _rb_root uptrack-show); _rb_st=$?
else
  _rb_out=""; _rb_st=127
fi
_rb_end ksplice $_rb_st

echo '@@rebootable:sys-livepatch@@'
for _rb_d in /sys/kernel/livepatch/*; do
  [ -d "$_rb_d" ] || continue
  _rb_line "$_rb_d/enabled"; _rb_e=$_rb_out
  _rb_line "$_rb_d/transition"
  printf '%s enabled=%s transition=%s\n' "${_rb_d##*/}" "$_rb_e" "$_rb_out"
done
_rb_out=""; _rb_end sys-livepatch 0

echo '@@rebootable:systemd-state@@'
_rb_cmd systemctl is-system-running; _rb_st=$?; _rb_state=$_rb_out
_rb_end systemd-state $_rb_st

echo '@@rebootable:unit-files@@'
_rb_cmd systemctl list-unit-files --type=service --no-legend --no-pager; _rb_end unit-files $?

# Listing units asks the running manager; where systemd is not the init system (`offline`)
# every such call fails with status 1 and prints nothing, so it is not made.
_rb_manager() {
  _rb_out=""
  [ "$_rb_state" = offline ] && return 1
  _rb_cmd systemctl "$@" --no-legend --no-pager
}

echo '@@rebootable:units@@'
_rb_manager list-units --type=service --all --plain; _rb_end units $?

echo '@@rebootable:failed-units@@'
_rb_manager list-units --failed --plain; _rb_end failed-units $?

echo '@@rebootable:fstab@@'
_rb_print /etc/fstab; _rb_end fstab $?

echo '@@rebootable:mounts@@'
_rb_out=$(cat /proc/self/mounts); _rb_end mounts $?

echo '@@rebootable:sysctl-persisted@@'
# One '#@file <path>' comment before each file lets the parser order files as systemd-sysctl
# does; the content stays valid sysctl.conf syntax. The files are read by the shell itself,
# which keeps the key each line sets for sysctl-runtime; comment and blank lines (most of a
# vendor file's bytes) are left out, as the parser skips them.
# The watched tunables first (fleet/sysctl_watch.py), then every key the files name.
_rb_paths='__RB_WATCHED__'
for _rb_f in /etc/sysctl.d/*.conf /run/sysctl.d/*.conf \
  /usr/local/lib/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf /etc/sysctl.conf; do
  [ -f "$_rb_f" ] || continue
  printf '#@file %s\n' "$_rb_f"
  if [ -r "$_rb_f" ]; then
    while IFS= read -r _rb_l || [ -n "$_rb_l" ]; do
      case ${_rb_l#"${_rb_l%%[! 	]*}"} in ''|'#'*|';'*) continue ;; esac
      printf '%s\n' "$_rb_l"
      _rb_sysctl_key "$_rb_l"
    done < "$_rb_f"
  fi
  echo
done
_rb_end sysctl-persisted 0

echo '@@rebootable:sysctl-runtime@@'
# `sysctl KEY…` (its output is `sysctl -a`'s format) for the tunables and the keys the files
# above name, globs expanded over /proc/sys: only keys the kernel has, each once. (/proc/sys
# integers cannot be read with dash's `read`: it reads a byte at a time and the kernel answers
# a read past offset 0 with end of file.)
set --
_rb_seen=" "
_rb_ifs=$IFS
IFS=$_rb_nl
for _rb_p in $_rb_paths; do
  IFS=$_rb_ifs
  case $_rb_seen in *" $_rb_p "*) continue ;; esac
  _rb_seen="$_rb_seen$_rb_p "
  [ -f "$_rb_p" ] || continue
  _rb_swap "${_rb_p#/proc/sys/}"
  set -- "$@" "$_rb_s"
done
IFS=$_rb_ifs
if [ $# -gt 0 ]; then _rb_cmd sysctl "$@"; else _rb_out=""; [ -d /proc/sys ]; fi
_rb_end sysctl-runtime $?
set --

echo '@@rebootable:probe-version@@'
_rb_out=2; _rb_end probe-version 0

echo '@@rebootable:grub-default@@'
_rb_out=""; _rb_st=127
if _rb_have grub2-editenv; then _rb_out=$(_rb_maybe_root grub2-editenv list); _rb_st=$?
elif _rb_have grub-editenv; then _rb_out=$(_rb_maybe_root grub-editenv list); _rb_st=$?
fi
[ -n "$_rb_out" ] && printf '%s\n' "$_rb_out"
if [ -r /etc/default/grub ]; then
  while IFS= read -r _rb_l || [ -n "$_rb_l" ]; do
    case $_rb_l in GRUB_DEFAULT=*) printf '%s\n' "$_rb_l"; [ $_rb_st -eq 127 ] && _rb_st=0 ;; esac
  done < /etc/default/grub
fi
_rb_out=""; _rb_end grub-default $_rb_st

echo '@@rebootable:vmlinuz-link@@'
for _rb_f in /vmlinuz /boot/vmlinuz; do
  [ -L "$_rb_f" ] && readlink -f "$_rb_f"
done
_rb_end vmlinuz-link 0

echo '@@rebootable:socket-units@@'
_rb_manager list-sockets --all; _rb_end socket-units $?

echo '@@rebootable:timer-units@@'
_rb_manager list-timers --all; _rb_end timer-units $?

echo '@@rebootable:exit-codes@@'
printf '%s' "$_rb_codes"
} </dev/null
"""

PROBE_SCRIPT = _TEMPLATE.replace(
    "__RB_WATCHED__", "".join(proc_sys_path(k) + "\n" for k in TUNABLES)
)
