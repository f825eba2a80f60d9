//! The installed program (`lightwidget-keeper`, what `cargo install` puts on the PATH)
//! answers like the repository's example: its subcommands, its exit codes, a real status
//! read of a fresh SQLite database. (`tests/keeper_cli.rs` at the workspace root drives the
//! same program through every command.)

use std::process::{Command, Output};

/// A 32-byte key in base64 (test only).
const KEYS: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn keeper(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lightwidget-keeper"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_installed_program_has_the_daemons_commands_and_exit_codes() {
    let o = keeper(&["--help"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    for cmd in ["run", "connect", "import", "status", "history", "refresh"] {
        assert!(text(&o).contains(cmd), "{cmd}: {}", text(&o));
    }
    // A missing or bad setting is a configuration error (78), naming the setting.
    let o = keeper(&["status"], &[]);
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    assert!(text(&o).contains("database_url"), "{}", text(&o));
    let o = keeper(
        &["status"],
        &[
            ("LIGHTWIDGET_DATABASE_URL", "sqlite://unused.db"),
            ("LIGHTWIDGET_KEYS", KEYS),
            ("LIGHTWIDGET_CONCURRENCY", "0"),
        ],
    );
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    assert!(text(&o).contains("concurrency"), "{}", text(&o));
    // Unknown usage is 2.
    let o = keeper(&["no-such-command"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A real read of a fresh database: no accounts, exit 0.
    let dir = std::env::temp_dir().join(format!("lw-installed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("keeper.db").display());
    let o = keeper(
        &["status", "--owner", "nobody", "--json"],
        &[
            ("LIGHTWIDGET_DATABASE_URL", &db),
            ("LIGHTWIDGET_KEYS", KEYS),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
}
