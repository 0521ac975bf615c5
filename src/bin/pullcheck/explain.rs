//! `pullcheck explain MESSAGE`: classify a kubelet / containerd / CRI-O pull-failure message, or
//! each message of a pasted `kubectl describe` or `kubectl get events` table.

use crate::args::Output;
use crate::USAGE_EXIT;
use std::io::Read;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct ExplainArgs {
    /// The message, quoted (e.g. the `Failed to pull image …` event), or a pasted `kubectl
    /// describe pod` or `kubectl get events` (each distinct message is explained); absent or `-`
    /// reads standard input (at most 1 MiB).
    pub(crate) message: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub(crate) output: Output,
}

/// Largest message `pullcheck explain` reads from standard input.
pub(crate) const EXPLAIN_STDIN_LIMIT: u64 = 1024 * 1024;

pub(crate) fn explain(args: ExplainArgs) -> ExitCode {
    use pullcheck::classify::runtime_message;
    use pullcheck::report::explanation::MessageExplanation;

    let message = match args.message {
        Some(m) if m != "-" => m,
        _ => {
            let mut buf = Vec::new();
            let stdin = std::io::stdin().lock();
            if let Err(e) = stdin.take(EXPLAIN_STDIN_LIMIT).read_to_end(&mut buf) {
                pullcheck::term::eprint_error(format_args!(
                    "failed to read the message from standard input: {e}"
                ));
                return ExitCode::from(USAGE_EXIT);
            }
            String::from_utf8_lossy(&buf).into_owned()
        }
    };
    if message.trim().is_empty() {
        pullcheck::term::eprint_error(format_args!(
            "the message is empty (pass it as an argument, or on standard input)"
        ));
        return ExitCode::from(USAGE_EXIT);
    }
    let explained = runtime_message::explain_all(&message);
    let code = explained.first.verdict.exit_code();
    match args.output {
        Output::Json => {
            match pullcheck::term::json::to_string_pretty(&MessageExplanation::from(explained)) {
                Ok(j) => pullcheck::secrets::print(&format!("{j}\n")),
                Err(e) => {
                    pullcheck::term::eprint_error(format_args!(
                        "failed to encode the explanation: {e}"
                    ));
                    return ExitCode::from(1);
                }
            }
        }
        Output::Text => pullcheck::secrets::print(&runtime_message::render_all(&explained)),
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
