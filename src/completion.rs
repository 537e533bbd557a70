//! Shell completion, two ways:
//! - [`script`]: a static script for bash, zsh or fish that completes the
//!   executable `kubectl-amp_iam` when it is typed directly;
//! - [`complete_from_env`]: the dynamic completer behind
//!   `kubectl_complete-amp_iam`, the executable kubectl (1.26 and later) runs
//!   to complete `kubectl amp-iam …`. kubectl passes the words after the
//!   plugin name, the last one being the word under the cursor, and reads
//!   Cobra's protocol back: one `candidate<TAB>description` a line, then
//!   `:<directive>`.

use crate::cli::Cli;
use clap::CommandFactory;
use clap_complete::env::{CompleteEnv, EnvCompleter, Shells};
use std::ffi::OsString;
use std::io::Write;

/// The executable kubectl runs for `kubectl amp-iam`.
pub const BIN: &str = "kubectl-amp_iam";
/// The executable kubectl runs to complete `kubectl amp-iam …`.
pub const KUBECTL_COMPLETER: &str = "kubectl_complete-amp_iam";
/// Set to `kubectl` to make the binary answer a completion request instead of running.
pub const ENV_VAR: &str = "KUBECTL_AMP_IAM_COMPLETE";

/// Cobra's `ShellCompDirectiveNoSpace`: do not add a space after the completion.
const NO_SPACE: u8 = 2;
/// Cobra's `ShellCompDirectiveNoFileComp`: do not fall back to file names.
const NO_FILE_COMP: u8 = 4;

/// The shells `completion` prints a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The static completion script for `shell`, completing `kubectl-amp_iam`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, BIN, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// When [`ENV_VAR`] is set, answers the completion request on stdout and
/// exits; otherwise returns and the program runs as usual. Call it first in
/// `main`.
pub fn complete_from_env() {
    CompleteEnv::with_factory(Cli::command)
        .var(ENV_VAR)
        .bin(BIN)
        .shells(Shells(&[&Kubectl]))
        .complete();
}

/// The contents of `plugin/kubectl_complete-amp_iam`, which is also what
/// `KUBECTL_AMP_IAM_COMPLETE=kubectl kubectl-amp_iam` prints.
pub fn kubectl_completer_script() -> String {
    format!(
        "#!/bin/sh\n\
         # kubectl (1.26 and later) runs this executable to complete `kubectl amp-iam ...`.\n\
         # It passes the words after `amp-iam`, the last one being the word to complete.\n\
         # Install it next to {BIN} on PATH and make it executable.\n\
         {ENV_VAR}=kubectl exec {BIN} -- {BIN} \"$@\"\n"
    )
}

/// Cobra's completion protocol, as kubectl expects it from plugins.
struct Kubectl;

impl EnvCompleter for Kubectl {
    fn name(&self) -> &'static str {
        "kubectl"
    }

    fn is(&self, name: &str) -> bool {
        name == "kubectl"
    }

    fn write_registration(
        &self,
        _var: &str,
        _name: &str,
        _bin: &str,
        _completer: &str,
        buf: &mut dyn Write,
    ) -> Result<(), std::io::Error> {
        buf.write_all(kubectl_completer_script().as_bytes())
    }

    /// `args` is the binary name followed by kubectl's words.
    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<OsString>,
        current_dir: Option<&std::path::Path>,
        buf: &mut dyn Write,
    ) -> Result<(), std::io::Error> {
        let index = args.len().saturating_sub(1);
        let candidates = clap_complete::engine::complete(cmd, args, index, current_dir)?;
        let mut directive = NO_FILE_COMP;
        for candidate in candidates {
            let value = candidate.get_value().to_string_lossy();
            // A directory: let the user keep typing the path.
            if value.ends_with(std::path::MAIN_SEPARATOR) {
                directive |= NO_SPACE;
            }
            write!(buf, "{value}")?;
            if let Some(help) = candidate.get_help() {
                let help = help.to_string();
                write!(buf, "\t{}", help.lines().next().unwrap_or_default())?;
            }
            writeln!(buf)?;
        }
        writeln!(buf, ":{directive}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(words: &[&str]) -> String {
        let mut args: Vec<OsString> = vec![BIN.into()];
        args.extend(words.iter().map(OsString::from));
        let mut buf = Vec::new();
        Kubectl
            .write_complete(&mut Cli::command(), args, None, &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn every_shell_script_completes_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = script(shell);
            assert!(!s.is_empty(), "{shell:?}");
            for word in ["setup", "status", "teardown", "permissions", "values"] {
                assert!(s.contains(word), "{shell:?} script lacks {word}");
            }
            assert!(s.contains(BIN), "{shell:?} script is for {BIN}");
        }
    }

    #[test]
    fn kubectl_protocol_lists_subcommands_with_descriptions_then_a_directive() {
        let out = complete(&[""]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.last(), Some(&":4"), "{out}");
        assert!(
            lines.iter().any(|l| l.starts_with("setup\tCreate or fix")),
            "{out}"
        );
        assert!(lines.iter().any(|l| l.starts_with("values\t")), "{out}");
    }

    #[test]
    fn kubectl_protocol_completes_kinds_and_flags() {
        let kinds = complete(&["setup", "in"]);
        assert!(kinds.lines().any(|l| l.starts_with("ingest")), "{kinds}");
        assert!(!kinds.contains("query"), "{kinds}");
        let flags = complete(&["setup", "--dry"]);
        assert!(flags.lines().any(|l| l.starts_with("--dry-run")), "{flags}");
        let shells = complete(&["completion", ""]);
        for s in ["bash", "zsh", "fish"] {
            assert!(shells.lines().any(|l| l == s), "{shells}");
        }
    }

    #[test]
    fn the_shipped_completer_script_is_the_generated_one() {
        let shipped = include_str!("../plugin/kubectl_complete-amp_iam");
        assert_eq!(shipped, kubectl_completer_script());
    }
}
