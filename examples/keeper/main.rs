//! The keeper program (`lightwidget-keeper`, whose source is `lightwidget-keeper/src`), run
//! as an example of this repository:
//!
//! ```text
//! cargo run --example keeper --features sandbox,sqlite,email             # the demo
//! cargo run --example keeper --features sandbox,sqlite,email -- run -c lightwidget.toml
//! cargo run --example keeper --features sandbox,sqlite,email -- status --owner user-42 --json
//! ```

#[path = "../../lightwidget-keeper/src/lib.rs"]
mod daemon;

fn main() -> std::process::ExitCode {
    daemon::main()
}
