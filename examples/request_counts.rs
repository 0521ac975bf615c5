//! Prints HTTP requests per probe, cold and warm (token and digest cached), for one image:
//! `cargo run --release --example request_counts -- IMAGE [HOSTS_DIR] [USER PASSWORD]`.
//! Used by scripts/bench.

use pullcheck::endpoints;
use pullcheck::identity::{Credential, RegistryAuth, Source};
use pullcheck::probe::{Options, Prober};
use pullcheck::reference::ImageRef;
use std::path::PathBuf;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(image) = args.first() else {
        eprintln!("usage: request_counts IMAGE [HOSTS_DIR] [USER PASSWORD]");
        std::process::exit(2);
    };
    let image = ImageRef::parse(image).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let hosts_dir = args.get(1).map(PathBuf::from);
    let cred = match (args.get(2), args.get(3)) {
        (Some(u), Some(p)) => Credential {
            auth: RegistryAuth::Basic {
                username: u.clone(),
                password: p.clone(),
            },
            source: Source::Flags {
                username: u.clone(),
            },
        },
        _ => Credential::anonymous(),
    };
    let eps = endpoints::resolve(&image, hosts_dir.as_deref()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let host = eps.hosts.last().expect("one host at least");
    let prober = Prober::new(Options::default());
    for label in ["cold", "warm"] {
        let started = std::time::Instant::now();
        let ev = prober.probe(&image, host, &cred).await;
        let verdict = pullcheck::classify::classify(&ev).verdict;
        println!(
            "{label}: {} requests, {:.2} ms, verdict {verdict}",
            ev.request_count(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}
