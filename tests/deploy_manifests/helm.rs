//! The real `helm`, for tests/deploy_manifests.rs: found, and run on the chart.
//!
//! Found as HELM=/path/to/helm, or `helm` on PATH. scripts/test sets HELM to the helm it builds
//! from its Go module (`scripts/kube path helm`, pinned in tests/kube/helm/go.mod) and
//! PULLCHECK_REQUIRE_HELM=1, which turns a missing helm into a failure; in a plain `cargo test`
//! without one, each test that needs it says it was skipped and passes.
//!
//! Every command runs in the repository (the paths it names are the ones a person types there)
//! with Helm's configuration, cache and data directories and KUBECONFIG in a temporary
//! directory: nothing of the machine's Helm or Kubernetes setup is read, nothing is written
//! outside, and no cluster is contacted (`helm template`, `helm lint`, and
//! `helm install --dry-run=client` for the notes).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A helm binary and the private home it runs with.
pub struct Helm {
    bin: PathBuf,
    home: tempfile::TempDir,
}

/// The helm to use, or None (after saying that `what` was skipped) when there is none and
/// none is required.
pub fn find(what: &str) -> Option<Helm> {
    let bin = match std::env::var_os("HELM") {
        Some(h) => {
            let h = PathBuf::from(h);
            assert!(h.is_file(), "HELM={} is not a file", h.display());
            Some(h)
        }
        None => std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("helm"))
                .find(|h| h.is_file())
        }),
    };
    let Some(bin) = bin else {
        assert!(
            std::env::var_os("PULLCHECK_REQUIRE_HELM").is_none(),
            "PULLCHECK_REQUIRE_HELM is set but no helm was found (set HELM=/path/to/helm; \
             scripts/test uses `scripts/kube path helm`)"
        );
        eprintln!("SKIPPED {what}: helm not found (set HELM=/path/to/helm; scripts/test does)");
        return None;
    };
    let home = tempfile::tempdir().expect("a temporary directory for helm");
    Some(Helm { bin, home })
}

impl Helm {
    /// `helm ARGS…` in `dir`, with the private home.
    pub fn command(&self, dir: &Path) -> Command {
        let mut c = Command::new(&self.bin);
        let home = self.home.path();
        c.current_dir(dir)
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("KUBECONFIG", home.join("kubeconfig"))
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_KUBECONTEXT");
        c
    }

    /// Runs `args` in `dir`; the output, whatever the exit status.
    pub fn run(&self, dir: &Path, args: &[String]) -> Output {
        self.command(dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.bin.display()))
    }

    /// Runs `args` in `dir`; its stdout, or a panic with the command and its stderr.
    pub fn ok(&self, dir: &Path, args: &[String]) -> String {
        let out = self.run(dir, args);
        assert!(
            out.status.success(),
            "helm {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("helm prints UTF-8")
    }

    /// `helm version --short`, for the messages.
    pub fn version(&self, dir: &Path) -> String {
        self.ok(dir, &["version".into(), "--short".into()])
            .trim()
            .to_string()
    }
}
