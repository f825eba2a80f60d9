//! The documentation's promises checked against the code: every feature in both feature
//! tables, one story about unsubscribe links, the library user's setup words, and
//! benchmark runs named by date, not by who ran them.

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The facade's features, from `Cargo.toml`'s `[features]` (without `default`).
fn features() -> BTreeSet<String> {
    let toml = read("Cargo.toml");
    let section = toml
        .split("\n[features]\n")
        .nth(1)
        .expect("a [features] section");
    let section = section.split("\n[").next().unwrap();
    section
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| l.split('=').next().unwrap().trim().to_owned())
        .filter(|f| f != "default")
        .collect()
}

#[test]
fn every_feature_is_in_the_facade_and_readme_tables() {
    let fs = features();
    assert!(fs.contains("metrics") && fs.contains("testkit"), "{fs:?}");
    let facade: String = read("src/lib.rs")
        .lines()
        .filter(|l| l.starts_with("//! |"))
        .collect();
    let readme = read("README.md");
    let readme_table: String = readme
        .split("## Feature flags")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|'))
        .collect();
    for f in &fs {
        let name = format!("`{f}`");
        assert!(
            facade.contains(&name),
            "{f} missing from the facade's feature table"
        );
        assert!(
            readme_table.contains(&name),
            "{f} missing from the README's feature table"
        );
    }
}

#[test]
fn the_readme_tells_one_story_about_unsubscribe_links() {
    let readme = read("README.md").replace('\n', " ").replace("  ", " ");
    assert!(
        !readme.contains("renewal and unsubscribe links are signed and expire"),
        "unsubscribe links never expire"
    );
    assert!(readme.contains("unsubscribe links never do and work once"));
    assert!(readme.contains("never expires (the email may be read months later) and works once"));
}

#[test]
fn the_readme_says_how_to_set_up_both_clients_and_other_hosts() {
    let readme = read("README.md");
    for words in [
        ".base_urls(",
        "BaseUrls::per_platform",
        "FacebookLogin::new(",
        ".with_page_id(",
        "count as successful checks",
    ] {
        assert!(readme.contains(words), "README lacks {words}");
    }
    let instagram = read("lightwidget-instagram/src/lib.rs");
    assert!(
        instagram.contains("//! ```") && instagram.contains("FacebookLogin::new("),
        "lightwidget-instagram's front page has an example with both clients"
    );
}

#[test]
fn benchmark_runs_are_named_by_date_or_version() {
    let b = read("BENCHMARKS.md").to_lowercase();
    assert!(!b.contains("session"), "BENCHMARKS.md speaks of sessions");
}
