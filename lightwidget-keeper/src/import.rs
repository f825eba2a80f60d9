//! `keeper import`: existing tokens from JSON lines or CSV, validated line by line.
//!
//! Each line is one `Keeper::connect_with` (one insert, so a line is imported whole or
//! not at all); a refused line is reported with its number and the reason, never its
//! token, and the import goes on. A line carries everything a connect has: the account
//! (`kind`, `ig_user_id`, `username`, `owner`, `page_id`, `fb_user_id`,
//! `notifications`) and the token (`token`, `issued_at`, `expires_at`,
//! `data_access_expires_at`, `scopes`).
//!
//! An import never rolls a token back: a line whose token is older than the one the
//! account holds is refused (`Error::StaleToken`; by `issued_at`, or by `expires_at`
//! when the line has no `issued_at`) unless `--force`, and a line whose token is the
//! one held changes nothing (re-running the same file adds no history row). CSV is parsed by the `csv` crate (quoting, embedded commas
//! and BOMs are its business, not ours); progress is an `indicatif` bar on stderr, shown
//! only when stderr is a terminal.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, Utc};
use lightwidget::*;
use serde::Deserialize;

use super::Fail;
use super::cli::Format;

/// Longest accepted line (a token plus its metadata). Meta's tokens are a few hundred
/// bytes; anything near this is not a token.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One line of the import file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    kind: String,
    ig_user_id: String,
    username: String,
    owner: String,
    token: String,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    page_id: Option<String>,
    #[serde(default)]
    notifications: Option<bool>,
    /// The app-scoped Facebook user id (business): what Meta's deauthorize and
    /// data-deletion callbacks name.
    #[serde(default)]
    fb_user_id: Option<String>,
    /// Granted permissions: a JSON list, or one string separated by commas or spaces.
    #[serde(default)]
    scopes: Option<Scopes>,
    /// When data access lapses (Facebook Login), RFC 3339.
    #[serde(default)]
    data_access_expires_at: Option<String>,
}

/// `scopes` as a JSON list or a `"a,b c"` string (CSV).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Text(String),
}

impl Scopes {
    fn into_vec(self) -> Vec<String> {
        let all = match self {
            Self::List(v) => v,
            Self::Text(s) => s
                .split(|c: char| c == ',' || c.is_whitespace())
                .map(str::to_owned)
                .collect(),
        };
        let mut out: Vec<String> = Vec::new();
        for s in all.into_iter().map(|s| s.trim().to_owned()) {
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

fn time(field: &str, v: Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| {
            DateTime::parse_from_rfc3339(s.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("{field} is not an RFC 3339 time ({e})"))
        })
        .transpose()
}

/// What a line did.
type LineResult = Result<(AccountId, ConnectOutcome), String>;

async fn connect(keeper: &Keeper, row: Row, force: bool) -> LineResult {
    let kind: ConnectionKind = row
        .kind
        .trim()
        .parse()
        .map_err(|_| "kind must be consumer or business".to_string())?;
    let issued_at = time("issued_at", row.issued_at)?;
    let mut token = super::commands::token(
        row.token,
        issued_at,
        time("expires_at", row.expires_at)?,
        None,
    )?
    .with_data_access_expires_at(time("data_access_expires_at", row.data_access_expires_at)?);
    if let Some(s) = row.scopes {
        token = token.with_scopes(s.into_vec());
    }
    let mut acct = NewAccount::new(row.owner, kind, row.ig_user_id, row.username)
        .with_entitlements(Entitlements {
            notifications: row.notifications.unwrap_or(false),
        });
    if let Some(p) = row.page_id.filter(|p| !p.trim().is_empty()) {
        acct = acct.with_page_id(p);
    }
    if let Some(f) = row.fb_user_id {
        acct = acct.with_fb_user_id(f.trim());
    }
    // Without issued_at the token's issue time is a stand-in (now): compare by expiry.
    let opts = ConnectOptions::default()
        .force(force)
        .issued_at_unknown(issued_at.is_none());
    keeper
        .connect_with(acct, token, opts)
        .await
        .map_err(|e| e.to_string())
}

fn open(file: &Path) -> Result<(Box<dyn Read>, Option<u64>), Fail> {
    if file == Path::new("-") {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let f = std::fs::File::open(file)
        .map_err(|e| Fail::Other(format!("cannot open {}: {e}", file.display())))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), len))
}

fn progress(len: Option<u64>) -> indicatif::ProgressBar {
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// What an import did.
#[derive(Default)]
struct Tally {
    imported: u64,
    unchanged: u64,
    refused: u64,
}

impl Tally {
    fn line(&mut self, n: u64, r: LineResult) {
        match r {
            Ok((id, ConnectOutcome::Unchanged)) => {
                self.unchanged += 1;
                println!("line {n}: unchanged {id} (the account holds this token already)");
            }
            Ok((id, ConnectOutcome::Renewed)) => {
                self.imported += 1;
                println!("line {n}: imported {id} (a newer token for a connected account)");
            }
            Ok((id, _)) => {
                self.imported += 1;
                println!("line {n}: imported {id}");
            }
            Err(why) => {
                self.refused += 1;
                println!("line {n}: refused: {why}");
            }
        }
    }
}

/// Imports `file`; `Err` if it cannot be read or any line was refused. `force`
/// installs tokens older than the ones held (a deliberate roll-back).
pub async fn run(
    keeper: &Keeper,
    file: &Path,
    format: Option<Format>,
    force: bool,
) -> Result<(), Fail> {
    let format = format.unwrap_or(
        if file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            Format::Csv
        } else {
            Format::Jsonl
        },
    );
    let (input, len) = open(file)?;
    let bar = progress(len);
    let input = bar.wrap_read(input);
    let mut tally = Tally::default();
    match format {
        Format::Jsonl => {
            let mut lines = BufReader::new(input);
            let mut buf = Vec::new();
            let mut n = 0u64;
            loop {
                buf.clear();
                let read = (&mut lines)
                    .take(MAX_LINE_BYTES as u64 + 1)
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| Fail::Other(format!("reading {}: {e}", file.display())))?;
                if read == 0 {
                    break;
                }
                n += 1;
                if buf.len() > MAX_LINE_BYTES && !buf.ends_with(b"\n") {
                    // Skip the rest of an over-long line.
                    let mut rest = Vec::new();
                    lines
                        .read_until(b'\n', &mut rest)
                        .map_err(|e| Fail::Other(format!("reading {}: {e}", file.display())))?;
                    tally.line(n, Err(format!("longer than {MAX_LINE_BYTES} bytes")));
                    continue;
                }
                let Ok(text) = std::str::from_utf8(&buf) else {
                    tally.line(n, Err("not valid UTF-8".into()));
                    continue;
                };
                if text.trim().is_empty() {
                    continue;
                }
                let r = match serde_json::from_str::<Row>(text) {
                    Ok(row) => connect(keeper, row, force).await,
                    // serde_json's message names the field and position, not the values.
                    Err(e) => Err(format!("not a valid JSON record ({e})")),
                };
                tally.line(n, r);
            }
        }
        Format::Csv => {
            let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(input);
            let headers = rdr
                .headers()
                .map_err(|e| Fail::Other(format!("{}: no CSV header row ({e})", file.display())))?
                .clone();
            for (i, rec) in rdr.records().enumerate() {
                let n = i as u64 + 2; // line 1 is the header
                let r = match rec {
                    Err(e) => Err(format!("not a valid CSV record ({e})")),
                    Ok(rec) if rec.as_slice().len() > MAX_LINE_BYTES => {
                        Err(format!("longer than {MAX_LINE_BYTES} bytes"))
                    }
                    Ok(rec) => match rec.deserialize::<Row>(Some(&headers)) {
                        Ok(row) => connect(keeper, row, force).await,
                        Err(e) => Err(format!("not a valid record ({e})")),
                    },
                };
                tally.line(n, r);
            }
        }
    }
    bar.finish_and_clear();
    println!(
        "imported {}, unchanged {}, refused {}",
        tally.imported, tally.unchanged, tally.refused
    );
    if tally.refused > 0 {
        return Err(Fail::Other(format!(
            "{} line(s) refused (see above); the others were imported",
            tally.refused
        )));
    }
    Ok(())
}
