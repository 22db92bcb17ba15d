#!/usr/bin/env python3
"""Turns `tmux capture-pane -e -p` output (text with SGR colour codes) into an SVG picture."""
import html
import re
import sys

PALETTE = ["#1d1f21", "#cc6666", "#b5bd68", "#f0c674", "#81a2be", "#b294bb", "#8abeb7", "#c5c8c6",
           "#666666", "#d54e53", "#b9ca4a", "#e7c547", "#7aa6da", "#c397d8", "#70c0b1", "#eaeaea"]
FG, BG = "#c5c8c6", "#1d1f21"
CELL_W, CELL_H = 8.4, 17


def xterm(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (levels[n // 36], levels[(n // 6) % 6], levels[n % 6])
    v = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (v, v, v)


def parse(line, state):
    cells = []
    for part in re.split(r"(\x1b\[[0-9;]*m)", line):
        if part.startswith("\x1b["):
            codes = [int(c) if c else 0 for c in part[2:-1].split(";")]
            i = 0
            while i < len(codes):
                c = codes[i]
                if c == 0:
                    state.update(fg=None, bg=None, bold=False, reverse=False)
                elif c == 1:
                    state["bold"] = True
                elif c == 7:
                    state["reverse"] = True
                elif c in (22,):
                    state["bold"] = False
                elif c == 27:
                    state["reverse"] = False
                elif 30 <= c <= 37:
                    state["fg"] = PALETTE[c - 30]
                elif 90 <= c <= 97:
                    state["fg"] = PALETTE[c - 90 + 8]
                elif 40 <= c <= 47:
                    state["bg"] = PALETTE[c - 40]
                elif 100 <= c <= 107:
                    state["bg"] = PALETTE[c - 100 + 8]
                elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                    state["fg" if c == 38 else "bg"] = xterm(codes[i + 2])
                    i += 2
                elif c == 39:
                    state["fg"] = None
                elif c == 49:
                    state["bg"] = None
                i += 1
            continue
        for ch in part:
            fg, bg = state["fg"] or FG, state["bg"] or BG
            if state["reverse"]:
                fg, bg = bg, fg
            cells.append((ch, fg, bg, state["bold"]))
    return cells


def main():
    lines = sys.stdin.read().rstrip("\n").split("\n")
    state = dict(fg=None, bg=None, bold=False, reverse=False)
    rows = [parse(line, state) for line in lines]
    width = max(len(r) for r in rows)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="DejaVu Sans Mono, Menlo, monospace" font-size="14">'
           % (width * CELL_W + 16, len(rows) * CELL_H + 16),
           '<rect width="100%%" height="100%%" fill="%s"/>' % BG]
    for y, row in enumerate(rows):
        for x, (ch, fg, bg, bold) in enumerate(row):
            px, py = 8 + x * CELL_W, 8 + y * CELL_H
            if bg != BG:
                out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>' % (px, py, CELL_W + 0.5, CELL_H, bg))
            if ch.strip():
                out.append('<text x="%.1f" y="%d" fill="%s"%s>%s</text>'
                           % (px, py + 13, fg, ' font-weight="bold"' if bold else "", html.escape(ch)))
    out.append("</svg>")
    print("\n".join(out))


main()
