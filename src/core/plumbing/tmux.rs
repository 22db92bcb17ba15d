//! The one tmux client. One file over 600 lines on purpose: every call wtmux makes to tmux, and
//! the one rule that makes outside text literal for tmux, are read and reviewed together.
//!
//! A thin typed wrapper over the `tmux` binary rather than `tmux_interface`: that crate passes a
//! window's command as one shell string (wtmux passes an argv so no text meets a shell), lacks
//! `run-shell -C -d`, reports a failing tmux as success, and is marked experimental by its author.
//! Every call goes to the server named by `$TMUX` (its socket path, with `-S`), so wtmux never
//! talks to a server it was not started under.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{Error, Result};

/// The user option that tags a window with the worktree it belongs to.
pub const WORKTREE_TAG: &str = "@wtmux_worktree";

/// The pane user option that tags an agent's pane with its worktree.
pub const AGENT_PANE_TAG: &str = "@wtmux_agent";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmux {
    socket: PathBuf,
    /// The pane wtmux was started from (`$TMUX_PANE`, or handed over by the popup binding).
    pub pane: Option<String>,
    /// The client to move when focusing a window (handed over by the popup binding).
    pub client: Option<String>,
}

/// A window that carries the worktree tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub id: String,
    pub session_id: String,
    pub worktree: PathBuf,
}

impl Tmux {
    /// The server wtmux runs under, from `$TMUX` (`socket,pid,session`).
    pub fn from_env() -> Option<Tmux> {
        let value = std::env::var("TMUX").ok()?;
        let socket = value.split(',').next().filter(|s| !s.is_empty())?;
        let non_empty = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
        Some(Tmux {
            socket: PathBuf::from(socket),
            pane: non_empty("WTMUX_PANE").or_else(|| non_empty("TMUX_PANE")),
            client: non_empty("WTMUX_CLIENT"),
        })
    }

    pub fn with_socket(socket: impl Into<PathBuf>) -> Tmux {
        Tmux {
            socket: socket.into(),
            pane: None,
            client: None,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Runs one tmux command and returns its stdout; a non-zero exit is an error with tmux's
    /// message.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<String> {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .map_err(spawn_failed)?;
        finish(args, output)
    }

    /// One tmux command: every argument is passed as it is (see [`argument_literal`]).
    fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new("tmux");
        command
            .arg("-S")
            .arg(&self.socket)
            .args(args.iter().map(|a| argument_literal(a.as_ref())));
        command
    }

    /// Several tmux commands in one call (`a ; b ; c`): the separators are the only arguments
    /// ending in a bare `;`.
    fn command_sequence(&self, commands: &[Vec<String>]) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(&self.socket);
        for (i, args) in commands.iter().enumerate() {
            if i > 0 {
                command.arg(";");
            }
            command.args(args.iter().map(|a| argument_literal(a.as_ref())));
        }
        command
    }

    /// Like [`Tmux::run`], with `input` on tmux's standard input (`load-buffer -`).
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Result<String> {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_failed)?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input);
        }
        finish(args, child.wait_with_output().map_err(spawn_failed)?)
    }

    /// What wtmux watches of every pane, in one call.
    pub fn panes(&self) -> Result<HashMap<String, Pane>> {
        let format = "#{pane_id} #{window_id} #{window_activity} #{pane_dead} #{pane_dead_status} #{window_active} #{session_attached} #{pane_tty}";
        let out = self.run(&["list-panes", "-a", "-F", format])?;
        let mut panes = HashMap::new();
        for line in out.lines() {
            let fields: Vec<&str> = line.splitn(8, ' ').collect();
            if fields.len() < 8 {
                continue;
            }
            panes.insert(
                fields[0].to_string(),
                Pane {
                    window: fields[1].to_string(),
                    activity: fields[2].parse().unwrap_or(0),
                    dead: fields[3] == "1",
                    dead_status: fields[4].parse().ok(),
                    seen: fields[5] == "1" && fields[6] != "0",
                    tty: PathBuf::from(fields[7]),
                },
            );
        }
        Ok(panes)
    }

    /// Every pane and every tagged window, in one call: what a monitor tick or one refresh
    /// pass needs of tmux. The window tag (a path, which may hold spaces) comes last.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.snapshot_after(&[], &[])
    }

    /// `commands` (commands without output: window options, a message), then
    /// [`Tmux::snapshot`], then the screens of `read` (see [`Tmux::read_screens`]), in one tmux
    /// call: a monitor tick tells what its last look decided and reads the screens it expects
    /// to need on its way to the next look. Every tmux client started costs the server a
    /// wake-up per message, and each wake-up walks every pane. The snapshot sees what the
    /// commands set; each screen comes with its window's activity read right after it, as in
    /// [`Tmux::read_screens`]. tmux drops the rest of a sequence after a failing command (a
    /// window closed meanwhile), so then each command is run alone, the snapshot taken again
    /// and no screen read.
    pub fn snapshot_after(&self, commands: &[Vec<String>], read: &[&str]) -> Result<Snapshot> {
        // The tag may hold a newline: records end with a token of this call, not at a newline
        // (see `tagged_windows`).
        let end = record_end_token();
        let format = format!(
            "#{{pane_id}} #{{window_id}} #{{session_id}} #{{window_activity}} #{{pane_dead}} #{{pane_dead_status}} #{{window_active}} #{{session_attached}} #{{pane_tty}} #{{?@wtmux_mark,1,0}} #{{{WORKTREE_TAG}}}{end}"
        );
        let listing = ["list-panes", "-a", "-F", &format];
        let separator = screen_separator();
        let (out, screens) = if commands.is_empty() && read.is_empty() {
            (self.run(&listing)?, HashMap::new())
        } else {
            let mut sequence = commands.to_vec();
            sequence.push(listing.map(String::from).to_vec());
            sequence.extend(screen_commands(read, &separator));
            let output = self
                .command_sequence(&sequence)
                .stdin(Stdio::null())
                .output()
                .map_err(spawn_failed)?;
            if output.status.success() {
                let out = String::from_utf8_lossy(&output.stdout).into_owned();
                // The screens come after the last record of the listing.
                let token = format!("{end}\n");
                let split = out.rfind(&token).map_or(out.len(), |at| at + token.len());
                let screens = parse_screens(&out[split..], &separator);
                (out[..split].to_string(), screens)
            } else {
                for command in commands {
                    let _ = self.run(command);
                }
                (self.run(&listing)?, HashMap::new())
            }
        };
        let mut snapshot = Snapshot {
            screens,
            ..Snapshot::default()
        };
        for record in out.split(&format!("{end}\n")) {
            let fields: Vec<&str> = record.trim_start_matches('\n').splitn(11, ' ').collect();
            let [
                id,
                window,
                session,
                activity,
                dead,
                status,
                active,
                attached,
                tty,
                marked,
                tag,
            ] = fields[..]
            else {
                continue;
            };
            snapshot.panes.insert(
                id.to_string(),
                Pane {
                    window: window.to_string(),
                    activity: activity.parse().unwrap_or(0),
                    dead: dead == "1",
                    dead_status: status.parse().ok(),
                    seen: active == "1" && attached != "0",
                    tty: PathBuf::from(tty),
                },
            );
            if marked == "1" {
                snapshot.marked.insert(window.to_string());
            }
            if !tag.is_empty() {
                let worktree = PathBuf::from(tag);
                snapshot.windows.entry(worktree.clone()).or_insert(Window {
                    id: window.to_string(),
                    session_id: session.to_string(),
                    worktree,
                });
            }
        }
        Ok(snapshot)
    }

    /// The screens of several panes in one call, each followed by its window's activity read
    /// again right after it: a screen whose activity moved meanwhile was read while the pane
    /// printed. Panes tmux no longer has are missing from the answer.
    pub fn read_screens(&self, panes: &[&str]) -> Result<HashMap<String, ScreenRead>> {
        if panes.is_empty() {
            return Ok(HashMap::new());
        }
        let separator = screen_separator();
        // A pane that went away fails its capture and ends the sequence: what came before is
        // still good.
        let output = self
            .command_sequence(&screen_commands(panes, &separator))
            .stdin(Stdio::null())
            .output()
            .map_err(spawn_failed)?;
        Ok(parse_screens(
            &String::from_utf8_lossy(&output.stdout),
            &separator,
        ))
    }

    /// Several commands in one tmux call (`a ; b ; c`). tmux drops the rest of a sequence after
    /// a failing command, so then each is tried alone: one closed window does not hide the
    /// others' changes.
    pub fn run_sequence(&self, commands: &[Vec<String>]) -> Result<()> {
        if commands.is_empty() {
            return Ok(());
        }
        let output = self
            .command_sequence(commands)
            .stdin(Stdio::null())
            .output()
            .map_err(spawn_failed)?;
        if output.status.success() || commands.len() == 1 {
            return Ok(());
        }
        for command in commands {
            let _ = self.run(command);
        }
        Ok(())
    }

    /// The visible text of a pane.
    pub fn capture(&self, pane: &str) -> Result<String> {
        self.run(&["capture-pane", "-p", "-t", pane])
    }

    /// Sets (or, with `None`, unsets) a window's user option.
    pub fn set_window_option(&self, window: &str, name: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(value) => self.run(&["set-option", "-w", "-t", window, name, value]),
            None => self.run(&["set-option", "-w", "-u", "-t", window, name]),
        }
        .map(|_| ())
    }

    /// Tags the pane of a new agent window with the agent's worktree (a pane user option) and
    /// returns its id and process: together, the proof [`Tmux::pane_is_claimed`] asks for.
    pub fn claim_pane(&self, window: &str, worktree: &Path) -> Result<(String, u32)> {
        let out = self.run(&[
            "display-message",
            "-p",
            "-t",
            window,
            "#{pane_id} #{pane_pid}",
        ])?;
        let (pane, pid) = out
            .trim()
            .split_once(' ')
            .and_then(|(pane, pid)| Some((pane.to_string(), pid.parse().ok()?)))
            .ok_or_else(|| Error::CommandFailed {
                command: "tmux display-message".into(),
                detail: format!("no pane in window {window}"),
            })?;
        self.run(&[
            "set-option".as_ref(),
            "-p".as_ref(),
            "-t".as_ref(),
            pane.as_ref(),
            AGENT_PANE_TAG.as_ref(),
            worktree.as_os_str(),
        ])?;
        Ok((pane, pid))
    }

    /// Whether `pane` is still the one [`Tmux::claim_pane`] tagged for `worktree`: it exists,
    /// carries that tag, and runs process `pid`, still alive. Pane ids restart from 0 with a
    /// new server, so an id alone may name somebody else's pane.
    pub fn pane_is_claimed(&self, pane: &str, pid: u32, worktree: &Path) -> Result<bool> {
        let format = format!("#{{pane_id}} #{{pane_pid}} #{{pane_dead}} #{{{AGENT_PANE_TAG}}}");
        let Ok(out) = self.run(&["display-message", "-p", "-t", pane, &format]) else {
            return Ok(false); // no such pane
        };
        let out = out.strip_suffix('\n').unwrap_or(&out);
        let mut fields = out.splitn(4, ' ');
        let proven = fields.next() == Some(pane)
            && fields.next() == Some(pid.to_string().as_str())
            && fields.next() == Some("0")
            && fields.next().map(Path::new) == Some(worktree)
            && process_alive(pid);
        Ok(proven)
    }

    /// The working directory of a pane: what tmux reports, else (when that is not a directory:
    /// tmux shows control characters in it as `_` under some locales) its process's, from
    /// `/proc`.
    pub fn pane_dir(&self, pane: &str) -> Option<PathBuf> {
        let out = self
            .run(&["display-message", "-p", "-t", pane, "#{pane_current_path}"])
            .ok()?;
        let reported = PathBuf::from(out.strip_suffix('\n').unwrap_or(&out));
        if reported.is_dir() {
            return Some(reported);
        }
        let pid = self
            .run(&["display-message", "-p", "-t", pane, "#{pane_pid}"])
            .ok()?;
        std::fs::read_link(format!("/proc/{}/cwd", pid.trim())).ok()
    }

    /// Every window tagged with a worktree, keyed by the worktree path.
    pub fn tagged_windows(&self) -> Result<HashMap<PathBuf, Window>> {
        // Spaces separate the fields: ids never hold one, and the tag (a path that may) comes
        // last. Tabs would do, but tmux prints them as `_` under a non-UTF-8 locale. A path may
        // hold a newline too, so each record ends with a token of this call (random, so no
        // path can forge a record end) instead of at a newline.
        let end = record_end_token();
        let format = format!("#{{window_id}} #{{session_id}} #{{{WORKTREE_TAG}}}{end}");
        let out = self.run(&["list-windows", "-a", "-F", &format])?;
        let mut windows = HashMap::new();
        for record in out.split(&format!("{end}\n")) {
            let mut parts = record.trim_start_matches('\n').splitn(3, ' ');
            let (Some(id), Some(session), Some(tag)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if tag.is_empty() {
                continue;
            }
            let worktree = PathBuf::from(tag);
            windows.entry(worktree.clone()).or_insert(Window {
                id: id.to_string(),
                session_id: session.to_string(),
                worktree,
            });
        }
        Ok(windows)
    }

    /// The tagged window of one worktree.
    pub fn window_for(&self, worktree: &Path) -> Result<Option<Window>> {
        Ok(self.tagged_windows()?.remove(worktree))
    }

    /// The session new windows go to: the one of the pane wtmux was started from, else the
    /// client's, else the most recently used one.
    pub fn current_session(&self) -> Result<String> {
        let mut args = vec!["display-message", "-p"];
        if let Some(pane) = &self.pane {
            args.extend(["-t", pane]);
        } else if let Some(client) = &self.client {
            args.extend(["-c", client]);
        }
        args.push("#{session_id}");
        let session = self.run(&args)?.trim().to_string();
        if session.is_empty() {
            return Err(Error::CommandFailed {
                command: "tmux display-message".into(),
                detail: "no session found".into(),
            });
        }
        Ok(session)
    }

    /// The window of the pane wtmux was started from.
    pub fn current_window(&self) -> Option<String> {
        let pane = self.pane.as_ref()?;
        self.run(&["display-message", "-p", "-t", pane, "#{window_id}"])
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Creates a background window in `session`, starting in `dir`, tagged with `tag` (the
    /// worktree it belongs to) when given, running `command` (an argv, executed without a shell)
    /// or the default shell. Returns its id.
    pub fn new_window(
        &self,
        session: &str,
        dir: &Path,
        name: &str,
        tag: Option<&Path>,
        env: &[(&str, String)],
        command: &[String],
    ) -> Result<String> {
        let target = format!("{session}:");
        let mut args: Vec<std::ffi::OsString> = vec![
            "new-window".into(),
            "-d".into(),
            "-P".into(),
            "-F".into(),
            "#{window_id}".into(),
            "-t".into(),
            target.into(),
            "-c".into(),
            format_literal_os(dir.as_os_str()),
            "-n".into(),
            format_literal(&window_name(name)).into(),
        ];
        for (key, value) in env {
            args.push("-e".into());
            args.push(format!("{key}={value}").into());
        }
        args.extend(command.iter().map(Into::into));
        let id = self.run(&args)?.trim().to_string();
        if let Some(worktree) = tag {
            self.run(&[
                "set-option".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                id.as_ref(),
                WORKTREE_TAG.as_ref(),
                worktree.as_os_str(),
            ])?;
        }
        Ok(id)
    }

    /// Makes `window` the current window of its session and moves the client there.
    pub fn focus(&self, window: &Window) -> Result<()> {
        self.run(&["select-window", "-t", &window.id])?;
        if self.client.is_none() && self.run(&["list-clients"])?.trim().is_empty() {
            return Ok(()); // nobody is attached: selecting the window is all there is to do
        }
        let mut args = vec!["switch-client"];
        if let Some(client) = &self.client {
            args.extend(["-c", client]);
        }
        args.extend(["-t", &window.id]);
        self.run(&args).map(|_| ())
    }

    /// Closes a window. When wtmux runs inside it, the kill is handed to the server with a short
    /// delay, so this process finishes its work before its own pane goes away.
    pub fn kill_window(&self, window: &Window) -> Result<KillOutcome> {
        if self.current_window().as_deref() == Some(window.id.as_str()) {
            let command = format_literal(&format!("kill-window -t {}", window.id));
            self.run(&["run-shell", "-b", "-d", "1", "-C", &command])?;
            Ok(KillOutcome::Deferred)
        } else {
            self.run(&["kill-window", "-t", &window.id])?;
            Ok(KillOutcome::Killed)
        }
    }

    /// Starts `argv` in `dir`, in the background under the tmux server, so it outlives this
    /// process (and the popup). run-shell only takes a shell string, which tmux format-expands
    /// first: every word is single-quoted for the shell and the whole made literal for tmux.
    pub fn spawn_background(&self, dir: &Path, argv: &[String]) -> Result<()> {
        let command = argv
            .iter()
            .map(|word| shell_quote(word))
            .collect::<Vec<_>>()
            .join(" ");
        // run-shell shows a job's output in the active pane when it ends: the jobs wtmux starts
        // write to their own logs, so everything is sent to /dev/null here.
        let command = format!(
            "cd {} && exec {command} >/dev/null 2>&1",
            shell_quote(&dir.to_string_lossy())
        );
        self.run(&["run-shell", "-b", &format_literal(&command)])
            .map(|_| ())
    }

    /// Shows a message in the status line of the client(s). The text is shown as it is: tmux
    /// does not expand anything in it.
    pub fn display_message(&self, text: &str) -> Result<()> {
        let mut args = vec!["display-message"];
        if let Some(client) = &self.client {
            args.extend(["-c", client]);
        }
        let text = message_literal(text);
        args.extend(["--", &text]);
        self.run(&args).map(|_| ())
    }
}

/// A token no path can contain by design: random per call.
/// A separator no screen holds by chance: it is made up now.
fn screen_separator() -> String {
    format!(
        "wtmux-screen-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// For each pane: its screen, then its id and window activity after `separator`.
fn screen_commands(panes: &[&str], separator: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for pane in panes {
        commands.push(
            ["capture-pane", "-p", "-J", "-t", pane]
                .map(String::from)
                .to_vec(),
        );
        let mut read = ["display-message", "-p", "-t", pane]
            .map(String::from)
            .to_vec();
        read.push(format!("{separator} #{{pane_id}} #{{window_activity}}"));
        commands.push(read);
    }
    commands
}

/// What [`screen_commands`] printed, by pane.
fn parse_screens(stdout: &str, separator: &str) -> HashMap<String, ScreenRead> {
    let mut reads = HashMap::new();
    let mut screen = String::new();
    for line in stdout.split_inclusive('\n') {
        let Some(rest) = line.trim_end_matches('\n').strip_prefix(separator) else {
            screen.push_str(line);
            continue;
        };
        let mut fields = rest.split_whitespace();
        if let (Some(pane), Some(activity)) = (fields.next(), fields.next()) {
            reads.insert(
                pane.to_string(),
                ScreenRead {
                    screen: std::mem::take(&mut screen),
                    activity_after: activity.parse().unwrap_or(0),
                },
            );
        }
        screen.clear();
    }
    reads
}

fn record_end_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("<wtmux-{:016x}>", hasher.finish())
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only asks whether the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn spawn_failed(error: std::io::Error) -> Error {
    Error::CommandFailed {
        command: "tmux".into(),
        detail: error.to_string(),
    }
}

/// A finished tmux call: its stdout, or its complaint as an error naming the command.
fn finish<S: AsRef<std::ffi::OsStr>>(args: &[S], output: std::process::Output) -> Result<String> {
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let name = args
        .first()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Error::CommandFailed {
        command: format!("tmux {name}"),
        detail: stderr.lines().next().unwrap_or("failed").trim().to_string(),
    })
}

/// One pane, as [`Tmux::panes`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pane {
    pub window: String,
    /// Unix time of the window's last output.
    pub activity: u64,
    pub dead: bool,
    pub dead_status: Option<i32>,
    /// Its window is the active one of an attached session: someone is looking at it.
    pub seen: bool,
    pub tty: PathBuf,
}

/// What one `list-panes -a` call shows: every pane, and the tagged windows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub panes: HashMap<String, Pane>,
    /// Tagged windows by worktree path.
    pub windows: HashMap<PathBuf, Window>,
    /// Windows that carry wtmux's status marker (`@wtmux_mark`).
    pub marked: std::collections::HashSet<String>,
    /// Screens read in the same call, right after the listing ([`Tmux::snapshot_after`]).
    pub screens: HashMap<String, ScreenRead>,
}

/// One pane's screen, and its window's activity read right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenRead {
    pub screen: String,
    pub activity_after: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillOutcome {
    Killed,
    /// Handed to the server: the window was the one wtmux runs in.
    Deferred,
}

/// A window name tmux can also parse back: `.` and `:` separate target parts.
pub fn window_name(name: &str) -> String {
    name.replace(['.', ':'], "_")
}

/// Makes outside text literal for tmux's format expansion, which tmux applies to
/// `display-message`, `run-shell`, `new-window -c/-n`, `display-popup -d` and key bindings before
/// any shell sees them: every format starts with `#` (`#{…}` substitutes, `#(…)` runs a command
/// in the server, `#W`…), and `##` is a literal `#`. Shell quoting does not help.
///
/// The one exception, found against tmux itself: a run of `#` followed by `[` (a style) is passed
/// through as it is, so such a run must not be doubled.
pub fn format_literal(text: &str) -> String {
    let escaped = format_literal_os(std::ffi::OsStr::new(text));
    // Only `#` bytes were added, so the text is still UTF-8.
    escaped.into_string().unwrap_or_else(|_| text.to_string())
}

/// [`format_literal`] for the text of `display-message`, which tmux also passes through
/// strftime(3) first (`%I` becomes the hour): `%` is doubled too.
pub fn message_literal(text: &str) -> String {
    format_literal(text).replace('%', "%%")
}

/// [`format_literal`] for paths, which need not be UTF-8: the one rule, on bytes.
pub fn format_literal_os(text: &std::ffi::OsStr) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'#' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let run = bytes[i..].iter().take_while(|&&b| b == b'#').count();
        let copies = if bytes.get(i + run) == Some(&b'[') {
            1
        } else {
            2
        };
        out.extend(std::iter::repeat_n(b'#', run * copies));
        i += run;
    }
    std::ffi::OsString::from_vec(out)
}

/// An argument as tmux's command parser must see it to keep it whole: tmux ends a command at
/// an argument ending in `;` (so `a ; b` works in one call), and `\;` there is its literal `;`.
/// Without this a path or name ending in `;` would cut a command short and start another.
pub fn argument_literal(arg: &std::ffi::OsStr) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = arg.as_bytes();
    match bytes.split_last() {
        Some((b';', rest)) => {
            let mut out = rest.to_vec();
            out.extend_from_slice(b"\\;");
            std::ffi::OsString::from_vec(out)
        }
        _ => arg.to_os_string(),
    }
}

/// Single-quotes a word for sh.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_literal_doubles_hashes_except_runs_before_a_style() {
        assert_eq!(format_literal("a#(x)#{y}##"), "a##(x)##{y}####");
        assert_eq!(format_literal("#[fg=red]##[x] #"), "#[fg=red]##[x] ##");
        assert_eq!(format_literal("plain ;$(x)`y`"), "plain ;$(x)`y`");
        assert_eq!(
            format_literal_os(std::ffi::OsStr::new("/p/My#Project")),
            std::ffi::OsString::from("/p/My##Project")
        );
    }
}
