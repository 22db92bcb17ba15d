#!/bin/sh
# Behaves like a coding agent, for the tests: works (prints for a while), asks a question and
# waits for a line, finishes its turn and waits for the next instruction, exits on "exit".
# `fake-agent.sh --fail` exits with an error straight away.
if [ "$1" = "--fail" ]; then
  echo "fake-agent: cannot reach the model" >&2
  exit 3
fi
if [ "$1" = "--scale" ]; then
  # For the scale benchmark. "$2" is "<phase> <slot> <log> <stop>": after <phase> seconds it
  # prints a line every 5 s and, in every twelfth of those (the one numbered <slot>), asks a
  # question instead and waits 10 s for nothing, logging the time it asked (ns) to <log>. Once
  # the file <stop> exists it goes silent for good.
  set -- $2
  phase=$1 slot=$2 log=$3 stop=$4
  sleep "$phase"
  n=0
  while [ ! -e "$stop" ]; do
    n=$((n + 1))
    if [ $((n % 12)) -eq "$slot" ]; then
      date +%s%N >>"$log"
      printf 'Apply the change to src/lib.rs? (y/n) '
      sleep 10
      echo
    fi
    echo "fake-agent: working, step $n"
    sleep 5
  done
  exec sleep 100000
fi
if [ "$1" = "--ask-when" ]; then
  # Says one line, then stays quiet until the file "$2" exists, then asks; for the tests that
  # decide exactly when the question appears. Then finishes like the ordinary agent.
  echo "fake-agent: thinking"
  while [ ! -e "$2" ]; do sleep 0.05; done
  printf 'Apply the change to src/lib.rs? (y/n) '
  read -r answer
  echo "fake-agent: answer was '$answer'"
  while :; do
    printf '> '
    read -r next || exit 0
    [ "$next" = "exit" ] && exit 0
  done
fi
if [ "$1" = "--ask-then" ]; then
  # Asks, then, waiting for an answer that never comes, every "$3" seconds does "$2": rings the
  # terminal's bell ("bell") or clears the screen and draws the same text again ("redraw").
  # Neither changes the screen's text. Once the file "$4/more" exists, it prints one new line
  # and asks again, once. Before each question it appends the time (ns) to "$4/asked".
  what=$2 period=$3 dir=$4
  question='Apply the change to src/lib.rs? (y/n) '
  screen=$question
  date +%s%N >>"$dir/asked"
  printf '\033[H\033[2J%s' "$screen"
  more=0
  while :; do
    sleep "$period"
    if [ $more -eq 0 ] && [ -e "$dir/more" ]; then
      more=1
      screen="$screen
fake-agent: one more thing first
$question"
      date +%s%N >>"$dir/asked"
      printf '\nfake-agent: one more thing first\n%s' "$question"
    elif [ "$what" = bell ]; then
      printf '\a'
    else
      printf '\033[H\033[2J%s' "$screen"
    fi
  done
fi
if [ "$1" = "--spin" ]; then
  # Works for ever, showing only a spinner drawn in place that turns once a second: read a
  # second apart, its screen may look the same every time.
  echo "fake-agent: thinking"
  while :; do
    for frame in '|' '/' '-' '+'; do
      printf '\r%s' "$frame"
      sleep 0.25
    done
  done
fi
if [ "$1" = "--commit-each" ]; then
  # Commits every instruction it reads: appends the line to work.txt, commits it, says so and
  # finishes its turn.
  echo "fake-agent: ready"
  while :; do
    printf '> '
    read -r next || exit 0
    [ "$next" = "exit" ] && exit 0
    printf '%s\n' "$next" >>work.txt
    git add work.txt && git commit -q -m "$next"
    echo "fake-agent: committed '$next'"
  done
fi
if [ "$1" = "--resolve" ]; then
  # Resolves the conflicts it is handed: every line it reads is appended to the file "$2";
  # on a line that mentions conflicts it keeps both sides of every conflicted file (markers
  # dropped), stages them, finishes the merge or rebase, and says so.
  echo "fake-agent: ready"
  while :; do
    printf '> '
    read -r next || exit 0
    printf '%s\n' "$next" >>"$2"
    case "$next" in
      *conflict*)
        for f in $(git diff --name-only --diff-filter=U); do
          grep -v -e '^<<<<<<< ' -e '^=======$' -e '^>>>>>>> ' "$f" >"$f.resolved"
          mv "$f.resolved" "$f"
          git add "$f"
        done
        if [ -d "$(git rev-parse --git-path rebase-merge)" ] \
          || [ -d "$(git rev-parse --git-path rebase-apply)" ]; then
          GIT_EDITOR=true git rebase --continue >/dev/null
        else
          git commit -q --no-edit
        fi
        echo "fake-agent: resolved"
        echo "resolved" >>"$2"
        ;;
    esac
  done
fi
echo "fake-agent: task: $*"
i=0
while [ $i -lt 25 ]; do
  echo "fake-agent: thinking, step $i"
  i=$((i + 1))
  sleep 0.2
done
printf 'Apply the change to src/lib.rs? (y/n) '
read -r answer
echo "fake-agent: answer was '$answer'"
i=0
while [ $i -lt 10 ]; do
  echo "fake-agent: applying, step $i"
  i=$((i + 1))
  sleep 0.2
done
echo "fake-agent: finished the task."
while :; do
  printf '> '
  read -r next || exit 0
  [ "$next" = "exit" ] && exit 0
  echo "fake-agent: noted '$next'"
done
