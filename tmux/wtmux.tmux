#!/usr/bin/env bash
# wtmux tmux plugin: binds prefix + w (option @wtmux-key) to the wtmux popup.
#
#   run-shell /path/to/wtmux/tmux/wtmux.tmux        # in ~/.tmux.conf, or with TPM:
#   set -g @plugin 'your/fork/wtmux'
#
# Options: @wtmux-key (w), @wtmux-bin (wtmux on PATH), @wtmux-width (80%), @wtmux-height (75%),
# @wtmux-status-marker (on): show an agent's state after its window's name in the status line.
set -eu

option() {
  local value
  value=$(tmux show-option -gqv "$1")
  printf '%s' "${value:-$2}"
}

key=$(option @wtmux-key w)
bin=$(option @wtmux-bin "$(command -v wtmux || echo wtmux)")
width=$(option @wtmux-width 80%)
height=$(option @wtmux-height 75%)

# display-popup does not expand formats in its command, so run-shell expands them (with #{q:}
# quoting) and hands the popup the client and pane it was opened from: a popup has $TMUX but no
# $TMUX_PANE, and switch-client must move this client, not the most recent one. The pane's
# directory is not handed over: through -d tmux would expand it a second time (a path holding
# `#` would open elsewhere, `#(cmd)` would run), and through the shell of run-shell a newline in
# it would end the command; `wtmux ui` asks tmux for the pane's directory itself. run-shell
# expands its whole command, so every `#` of our own values is doubled (`##` is a literal `#`).
tmux_literal() {
  local quoted
  quoted=$(printf '%q' "$1")
  printf '%s' "${quoted//\#/##}"
}
tmux bind-key "$key" run-shell -b \
  "tmux display-popup -E -w $(tmux_literal "$width") -h $(tmux_literal "$height") -e WTMUX_CLIENT=#{q:client_name} -e WTMUX_PANE=#{q:pane_id} $(tmux_literal "$bin") ui"

# Agents' windows carry @wtmux_state (working|waiting|done|exited, for your own formats) and
# @wtmux_mark (a marker wtmux clears once you look at the window). Unless turned off, the mark is
# appended to the window formats, once, leaving the rest of them as they are.
if [ "$(option @wtmux-status-marker on)" != off ]; then
  mark='#{?@wtmux_mark, #{@wtmux_mark},}'
  for format in window-status-format window-status-current-format; do
    current=$(tmux show-option -gqv "$format")
    case "$current" in
      *@wtmux_mark*) ;;
      *) tmux set-option -g "$format" "$current$mark" ;;
    esac
  done
fi
