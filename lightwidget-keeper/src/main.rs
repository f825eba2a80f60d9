//! `lightwidget-keeper`: keeps Instagram / Facebook Graph API access tokens alive (see the
//! library's docs, `lightwidget_keeper`).

fn main() -> std::process::ExitCode {
    lightwidget_keeper::main()
}
