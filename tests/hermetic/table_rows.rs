//! The bed tier's table runner (`tests/support/table.rs`) against canned runs: a row passes
//! only when the verdict, the exit code and every check hold, and a failing table names each
//! failing row and check.

use crate::support;

use serde_json::json;
use support::table::{self, row};
use support::Run;

fn run(report: serde_json::Value, code: i32) -> Run {
    Run {
        code,
        stdout: report.to_string(),
        stderr: String::new(),
    }
}

/// The panic message of a table that must fail.
fn failure(rows: Vec<table::Row>, runner: impl Fn(&table::Row) -> Run) -> String {
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| table::check(rows, runner)))
            .expect_err("the table must fail");
    caught.downcast_ref::<String>().cloned().unwrap_or_default()
}

fn rate_limited(_: &table::Row) -> Run {
    run(
        json!({"verdict": "rate_limited", "exitCode": 6, "reason": "429 from hub",
               "rateLimit": {"remaining": 0}}),
        6,
    )
}

#[test]
fn a_row_whose_report_holds_passes() {
    table::check(
        vec![row("r/app:v1", "rate_limited")
            .exit(6)
            .at("/rateLimit/remaining", 0)
            .reason_has("429")
            .holds("always", |_| Ok(()))],
        rate_limited,
    );
}

#[test]
fn every_failing_row_and_check_is_named() {
    let text = failure(
        vec![
            row("one/app:v1", "ok"),
            row("two/app:v1", "rate_limited")
                .at("/rateLimit/remaining", 42)
                .reason_has("quota")
                .holds("a named check", |_| Err("what was found".into())),
            row("three/app:v1", "rate_limited"),
        ],
        rate_limited,
    );
    assert!(text.contains("2 of 3 rows failed"), "{text}");
    assert!(
        text.contains("one/app:v1") && text.contains("verdict \"rate_limited\""),
        "{text}"
    );
    assert!(text.contains("/rateLimit/remaining = 42: got 0"), "{text}");
    assert!(text.contains("/reason contains \"quota\""), "{text}");
    assert!(text.contains("a named check: what was found"), "{text}");
    assert!(!text.contains("three/app:v1"), "{text}");
}

#[test]
fn an_exit_code_unlike_the_report_s_or_no_report_fails() {
    let text = failure(vec![row("r/app:v1", "rate_limited")], |_| {
        run(json!({"verdict": "rate_limited", "exitCode": 6}), 0)
    });
    assert!(
        text.contains("process exited 0 but the report says 6"),
        "{text}"
    );
    let text = failure(vec![row("r/app:v1", "ok")], |_| Run {
        code: 2,
        stdout: "error: bad flag".into(),
        stderr: "usage".into(),
    });
    assert!(text.contains("no JSON report"), "{text}");
}

#[test]
fn a_runner_that_panics_fails_its_row_and_the_next_row_still_runs() {
    let ran = std::cell::Cell::new(0);
    let text = failure(
        vec![row("boom/app:v1", "ok"), row("next/app:v1", "rate_limited")],
        |r| {
            ran.set(ran.get() + 1);
            if r.image.starts_with("boom") {
                panic!("a credential leaked into output");
            }
            rate_limited(r)
        },
    );
    assert_eq!(ran.get(), 2, "both rows ran");
    assert!(text.contains("1 of 2 rows failed"), "{text}");
    assert!(
        text.contains("boom/app:v1") && text.contains("panicked: a credential leaked"),
        "{text}"
    );
}
