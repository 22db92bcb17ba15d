#!/usr/bin/env bash
# Renders assets/popup.svg from the real popup: `wtmux demo` on a private tmux server, a real
# client attached from a second server, Prefix + w, and capture-pane with colours.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wtmux=${WTMUX:-$here/../target/release/wtmux}
work=$(mktemp -d)
trap 'tmux -S "$work/outer" kill-server 2>/dev/null; tmux -S "$work/inner" kill-server 2>/dev/null; rm -rf "$work"' EXIT
export HOME=$work GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 TMPDIR=$work SHELL=/bin/sh
unset TMUX TMUX_PANE
tmux -S "$work/inner" -f /dev/null new-session -d -s base -x 110 -y 32
TMUX="$work/inner,0,0" "$wtmux" demo --no-attach >/dev/null
sleep 2 # green and red finish; slow keeps running
tmux -S "$work/outer" -f /dev/null new-session -d -s shot -x 110 -y 32 \
  "env -u TMUX tmux -S $work/inner attach -t wtmux-demo"
sleep 1
tmux -S "$work/outer" send-keys -t shot C-b w
sleep 2
tmux -S "$work/outer" send-keys -t shot Down Down Down
sleep 1
tmux -S "$work/outer" capture-pane -e -p -t shot | python3 "$here/ansi2svg.py" > "$here/popup.svg"
echo "wrote $here/popup.svg"
if command -v rsvg-convert >/dev/null; then
  rsvg-convert "$here/popup.svg" -o "$here/popup.png" && echo "wrote $here/popup.png"
fi
