//! Table-driven bed tests. A [`Row`] is one scenario: the image, its flags, the verdict the
//! report must give, and the evidence it must hold (JSON pointers, reason and remediation
//! text, or a named predicate). [`check`] runs every row of a table through a runner (the CLI,
//! or the CLI inside containerd's namespace) and fails once at the end, naming each row that
//! went wrong and each of its checks that failed, so one broken scenario never hides the next.
//! Every row also checks that the process's exit code is the report's `exitCode`.
#![allow(dead_code)]

use super::Run;
use serde_json::Value;

type Predicate = Box<dyn Fn(&Value) -> Result<(), String>>;

/// One scenario of a table.
pub struct Row {
    pub image: String,
    pub args: Vec<String>,
    pub stdin: Option<String>,
    pub env: Vec<(String, String)>,
    pub verdict: String,
    checks: Vec<(String, Predicate)>,
}

/// A row probing `image` that must end in `verdict`.
pub fn row(image: impl Into<String>, verdict: &str) -> Row {
    Row {
        image: image.into(),
        args: Vec::new(),
        stdin: None,
        env: Vec::new(),
        verdict: verdict.to_string(),
        checks: Vec::new(),
    }
}

impl Row {
    /// More flags after `probe IMAGE -o json`.
    pub fn args(mut self, args: &[&str]) -> Row {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// `--hosts-dir DIR`: the hosts.toml tree the probe reads.
    pub fn hosts(self, dir: &std::path::Path) -> Row {
        self.args(&["--hosts-dir", super::path(dir)])
    }

    /// `--platform OS/ARCH`: the node's platform.
    pub fn platform(self, platform: &str) -> Row {
        self.args(&["--platform", platform])
    }

    /// Standard input (`--password-stdin`).
    pub fn stdin(mut self, text: &str) -> Row {
        self.stdin = Some(text.to_string());
        self
    }

    /// An environment variable of the probe's process.
    pub fn env(mut self, key: &str, value: &str) -> Row {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The report's `exitCode` (and so the process's).
    pub fn exit(self, code: i64) -> Row {
        self.at("/exitCode", code)
    }

    /// The value at a JSON pointer of the report.
    pub fn at(self, pointer: &str, want: impl Into<Value>) -> Row {
        let want = want.into();
        let pointer_owned = pointer.to_string();
        self.holds(&format!("{pointer} = {want}"), move |r| {
            match r.pointer(&pointer_owned) {
                Some(got) if *got == want => Ok(()),
                got => Err(format!("got {}", got.unwrap_or(&Value::Null))),
            }
        })
    }

    /// The report's `reason` contains `text`.
    pub fn reason_has(self, text: &str) -> Row {
        self.text_has("/reason", text)
    }

    /// The report's `remediation` contains `text`.
    pub fn remediation_has(self, text: &str) -> Row {
        self.text_has("/remediation", text)
    }

    /// The string at a JSON pointer contains `text`.
    pub fn text_has(self, pointer: &str, text: &str) -> Row {
        let (pointer_owned, text_owned) = (pointer.to_string(), text.to_string());
        self.holds(&format!("{pointer} contains {text:?}"), move |r| {
            match r.pointer(&pointer_owned).and_then(Value::as_str) {
                Some(s) if s.contains(&text_owned) => Ok(()),
                got => Err(format!("got {got:?}")),
            }
        })
    }

    /// A check of its own, named by `what`; `Err` says what was found instead.
    pub fn holds(
        mut self,
        what: &str,
        check: impl Fn(&Value) -> Result<(), String> + 'static,
    ) -> Row {
        self.checks.push((what.to_string(), Box::new(check)));
        self
    }

    /// What is wrong with this row's run, one line per failed check (empty: the row passes).
    fn failures(&self, run: &Run) -> Vec<String> {
        let report: Value = match serde_json::from_str(&run.stdout) {
            Ok(v) => v,
            Err(e) => {
                return vec![format!(
                    "no JSON report ({e}); stderr: {}",
                    run.stderr.trim()
                )]
            }
        };
        let mut wrong = Vec::new();
        if report["verdict"] != self.verdict.as_str() {
            wrong.push(format!(
                "verdict {} (reason: {})",
                report["verdict"], report["reason"]
            ));
        }
        if report["exitCode"].as_i64() != Some(run.code as i64) {
            wrong.push(format!(
                "process exited {} but the report says {}",
                run.code, report["exitCode"]
            ));
        }
        for (what, check) in &self.checks {
            if let Err(got) = check(&report) {
                wrong.push(format!("{what}: {got}"));
            }
        }
        wrong
    }
}

/// Runs a row as `pullcheck probe IMAGE -o json ARGS…` (the proxy variables cleared); its
/// output must not hold the bed's password ([`super::assert_no_secret`]).
pub fn cli(row: &Row) -> Run {
    let args: Vec<&str> = row.args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = row
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let run = super::probe_run(&row.image, &args, row.stdin.as_deref(), &env);
    super::assert_no_secret(&run);
    run
}

/// Runs every row with `runner` and panics once, listing every row that failed and why. A
/// runner or check that panics fails its row only.
pub fn check(rows: Vec<Row>, runner: impl Fn(&Row) -> Run) {
    let mut failed = Vec::new();
    for row in &rows {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let run = runner(row);
            (row.failures(&run), run.stdout)
        }));
        let (wrong, stdout) = match outcome {
            Ok(done) => done,
            Err(panic) => (
                vec![format!("panicked: {}", panic_text(&*panic))],
                String::new(),
            ),
        };
        if !wrong.is_empty() {
            failed.push(format!(
                "{} {:?} (want {}):\n    {}\n  report: {}",
                row.image,
                row.args,
                row.verdict,
                wrong.join("\n    "),
                stdout.trim()
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} rows failed:\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
}

/// The message of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".to_string())
}
